"""Bodies of the wardrobe: random realistic anny phenotypes, a deterministic pool of built bodies, batched posing.

Phenotypes (`sample_body`; anny's six values in [0, 1], measured on anny 0.6.2, statures of the canonical mesh):
    adults (80 %): age U[0.5, 1.0] (the default body's 0.5 to old age), height set so the stature is uniform in a
        realistic range (men 1.60-1.95 m, women 1.50-1.83 m; `stature` is anny's measured stature), weight
        U[0.05, 1], muscle U[0, 1], proportions U[0.1, 0.9]
    children (20 %, 6-12 years): age U[0.27, 0.47] (anny's age is calibrated to years, `prompts.bodies`: 6 y = 0.27,
        12 y = 0.47, 30 y = 0.79, 75 y = 0.87) with statures 1.10-1.56 m rising with age
    gender: 45 % U[0, 0.15] (male), 45 % U[0.85, 1] (female), 10 % U[0.15, 0.85]
Values are rounded to 3 decimals, so a spec's `body` is exactly the body that was drawn.

A `BodyPool` holds `size` phenotypes drawn from a seed and builds each body once when first used (about 0.07 s a
body, in memory only: anny's shared disk cache is not written). All bodies share anny's faces, skinning weights and
keypoint regressor; `pose` poses a batch of different bodies in one pass with `dreamavatar.body.anny_body`'s own
bone transforms and skinning blend.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dreamavatar.body import anny_body
from dreamavatar.body.skeleton import a_pose
from prompts.spec import Body

ADULT_STATURE = {"male": (1.60, 1.95), "female": (1.50, 1.83)}
CHILD_AGE = (0.27, 0.47)  # anny's calibrated ages of 6 and 12 years (`prompts.bodies.anny_age`)


def _u(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


# Stature (m) of anny 0.6.2's canonical mesh, measured: exactly linear in height (slope K) and in gender (S0 of men
# and women); piecewise linear in age between these anchors. Weight, muscle and proportions move it by under 1 cm.
_AGES = (0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.85, 1.0)
_S0_MALE = (0.769, 0.935, 1.066, 1.121, 1.177, 1.289, 1.361, 1.347, 1.334)
_S0_FEMALE = (0.712, 0.850, 0.961, 1.010, 1.060, 1.158, 1.223, 1.217, 1.211)
_K = (0.748, 0.896, 0.974, 0.996, 1.017, 1.061, 1.090, 1.089, 1.089)


def _interp(x: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    x = min(max(x, xs[0]), xs[-1])
    i = max(j for j in range(len(xs) - 1) if xs[j] <= x) if x < xs[-1] else len(xs) - 2
    t = (x - xs[i]) / (xs[i + 1] - xs[i])
    return ys[i] + t * (ys[i + 1] - ys[i])


def stature(gender: float, age: float, height: float) -> float:
    """Stature in metres of the canonical anny body with these values (the measured model above)."""
    s0 = (1 - gender) * _interp(age, _AGES, _S0_MALE) + gender * _interp(age, _AGES, _S0_FEMALE)
    return s0 + height * _interp(age, _AGES, _K)


def _height_for(gender: float, age: float, target: float) -> float:
    s0 = stature(gender, age, 0.0)
    return min(1.0, max(0.0, (target - s0) / (stature(gender, age, 1.0) - s0)))


def sample_body(g: torch.Generator) -> Body:
    """A random realistic body (see the module docstring)."""
    r = float(torch.rand((), generator=g))
    gender = _u(g, 0.0, 0.15) if r < 0.45 else _u(g, 0.85, 1.0) if r < 0.9 else _u(g, 0.15, 0.85)
    if float(torch.rand((), generator=g)) < 0.2:  # a child of 6-12 years: stature follows age (1.16 m to 1.50 m)
        age = _u(g, CHILD_AGE[0], CHILD_AGE[1])
        height = _height_for(gender, age, 1.16 + (age - CHILD_AGE[0]) / 0.2 * 0.34 + _u(g, -0.06, 0.06))
    else:
        age = _u(g, 0.5, 1.0)
        height = _height_for(gender, age, _u(g, *ADULT_STATURE["female" if gender > 0.5 else "male"]))
    vals = {"gender": gender, "age": age, "muscle": _u(g, 0, 1), "weight": _u(g, 0.05, 1), "height": height,
            "proportions": _u(g, 0.1, 0.9)}  # fmt: skip
    return Body(**{k: round(v, 3) for k, v in vals.items()})


@dataclass
class PoolBody:
    """One built body. Canonical (A-pose, world frame) vertices V x 3 and joints 24 x 3; rig data for posing."""

    body: Body
    rest_vertices: torch.Tensor  # V x 3, anny's rest pose
    rest_heads: torch.Tensor  # 24 x 3
    correction: torch.Tensor  # 24 x 3 x 3
    t_joints: torch.Tensor  # 24 x 3
    canonical_joint_inv: torch.Tensor  # 24 x 4 x 4
    canonical_vertices: torch.Tensor  # V x 3
    canonical_joints: torch.Tensor  # 24 x 3
    canonical_keypoints: torch.Tensor  # 18 x 3


@dataclass
class PosedBodies:
    """A batch of B posed bodies: vertices B x V x 3, joints B x 24 x 3, keypoints B x 18 x 3 (world),
    joint_transforms B x 24 x 4 x 4 (canonical -> posed, per SMPL joint: what garments are skinned with)."""

    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor
    joint_transforms: torch.Tensor


class BodyPool:
    """`size` phenotypes from `seed` (deterministic), each built on first use and kept."""

    def __init__(self, seed: int, size: int = 256):
        g = torch.Generator().manual_seed(seed)
        self.phenotypes = [sample_body(g) for _ in range(size)]
        self._built: dict[int, PoolBody] = {}
        self.faces: torch.Tensor | None = None
        self.weights: torch.Tensor | None = None  # V x 24
        self.keypoint_weights: torch.Tensor | None = None  # 18 x V

    def __len__(self) -> int:
        return len(self.phenotypes)

    def get(self, i: int) -> PoolBody:
        if i not in self._built:
            self._built[i] = self._build(self.phenotypes[i])
        return self._built[i]

    def _build(self, body: Body) -> PoolBody:
        # anny_body's builder without its disk cache (a pool of hundreds would fill the shared cache)
        data = anny_body._build_rig_data(body.values())
        if self.faces is None:
            self.faces, self.weights, self.keypoint_weights = data["faces"], data["weights"], data["keypoint_weights"]
        pb = PoolBody(body, data["rest_vertices"], data["rest_heads"], data["correction"], data["t_joints"],
                      data["canonical_joint_inv"], *([None] * 3))  # fmt: skip
        out = self._pose([pb], a_pose(1))
        pb.canonical_vertices, pb.canonical_joints, pb.canonical_keypoints = out.vertices[0], out.joints[0], out.keypoints[0]
        return pb

    def _pose(self, bodies: list[PoolBody], poses: torch.Tensor, transl: torch.Tensor | None = None) -> PosedBodies:
        def st(name: str) -> torch.Tensor:
            return torch.stack([getattr(b, name) for b in bodies])

        joints, T = anny_body.bone_transforms(poses.float(), transl, st("t_joints"), st("correction"), st("rest_heads"))
        blend = anny_body.vertex_blend(self.weights, T)
        rest = st("rest_vertices")
        vertices = (blend[..., :3, :3] @ rest.unsqueeze(-1)).squeeze(-1) + blend[..., :3, 3]
        keypoints = torch.einsum("kv,bvd->bkd", self.keypoint_weights, vertices)
        return PosedBodies(vertices, joints, keypoints, T @ st("canonical_joint_inv"))

    def pose(self, idx: list[int], poses: torch.Tensor, transl: torch.Tensor | None = None) -> PosedBodies:
        """Pose pool bodies idx (B) with poses B x 24 x 3 (SMPL axis-angle) and optional translations B x 3."""
        with torch.no_grad():
            return self._pose([self.get(i) for i in idx], poses, transl)
