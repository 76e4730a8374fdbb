"""The face part of the body contract: ARKit's 52 facial curves, head and eye rotations, and how bodies apply them.

A `FacePose` rides along with a batch of body poses: `curves` B x 52 in [0, 1] named by `ARKIT_NAMES` (the names
Apple's ARKit, Live Link Face, VRM tools, three.js and game engines use), `head` B x 3 axis-angle (the head relative
to the body's neck, split 40 / 60 between SMPL's neck and head joints, so any body motion can nod and turn) and
`eyes` B x 2 x 3 axis-angle (left, right; the gaze relative to the head). Angles follow the world frame of
`base.py` (y up, the body faces +z): positive pitch (about +x) looks down, positive yaw (about +y) turns to the body's
left, positive roll (about +z) tilts the head towards its right shoulder.

Each body turns a FacePose into per-vertex offsets in its rest frame, before skinning, and folds them into the
per-vertex transforms (`BodyOutput.vertex_transforms` maps the canonical, neutral-faced vertex to its posed place
with the expression), so the avatar's deformation carries the NeRF's face along without any mesh binding.
anny applies all 52 curves (its own ARKit targets) and turns eye rotations into the gaze curves (eyeLook*);
SMPL has no face rig: it turns `jawOpen` into a rotation of its lower face about a jaw hinge, and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import roma
import torch

ARKIT_NAMES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
    "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip
NUM_CURVES = len(ARKIT_NAMES)
CURVE_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_NAMES)}

NECK, HEAD = 12, 15  # SMPL joints that share the head rotation
NECK_SHARE = 0.4  # the neck takes 40 % of a head rotation, the head the rest
JAW_OPEN_ANGLE = 0.35  # radians of jaw rotation at jawOpen = 1 (about anny's jawOpen target; SMPL-X jaw -> jawOpen)
EYE_LOOK_ANGLE = math.radians(30.0)  # gaze angle at eyeLook* = 1


def curve_vector(pose: dict[str, float]) -> list[float]:
    """52 curve values from a few named ones; a name without its side ("mouthSmile") sets both sides."""
    v = [0.0] * NUM_CURVES
    for name, value in pose.items():
        for full in ((name,) if name in CURVE_INDEX else (f"{name}Left", f"{name}Right")):
            v[CURVE_INDEX[full]] = float(value)
    return v


@dataclass
class FacePose:
    """Face inputs for a batch of B poses; any part may be None (neutral).

    curves: B x 52 in [0, 1], order of ARKIT_NAMES; head: B x 3 axis-angle; eyes: B x 2 x 3 axis-angle (left, right).
    """

    curves: torch.Tensor | None = None
    head: torch.Tensor | None = None
    eyes: torch.Tensor | None = None

    def to(self, ref: torch.Tensor) -> "FacePose":
        """The same inputs with the dtype and device of `ref`."""
        cast = lambda t: None if t is None else t.to(ref)  # noqa: E731
        return FacePose(cast(self.curves), cast(self.head), cast(self.eyes))


def apply_head(pose: torch.Tensor, head: torch.Tensor | None) -> torch.Tensor:
    """Pose B x 24 x 3 with the head rotation B x 3 shared by the neck (after its own rotation) and the head (before
    its own), so the head turns by `head` relative to the neck's frame."""
    if head is None:
        return pose
    head = head.to(pose).reshape(-1, 3).expand(pose.shape[0], 3)
    R = roma.rotvec_to_rotmat(pose[:, [NECK, HEAD]])
    neck = R[:, 0] @ roma.rotvec_to_rotmat(head * NECK_SHARE)
    top = roma.rotvec_to_rotmat(head * (1 - NECK_SHARE)) @ R[:, 1]
    out = pose.clone()
    out[:, NECK] = roma.rotmat_to_rotvec(neck)
    out[:, HEAD] = roma.rotmat_to_rotvec(top)
    return out


def gaze_angles(eyes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eye rotations ... x 3 (axis-angle) -> (yaw, pitch) in radians of the gaze direction (yaw + to the body's
    left, pitch + down)."""
    d = roma.rotvec_to_rotmat(eyes)[..., :, 2]  # where the forward axis (+z) points
    return torch.atan2(d[..., 0], d[..., 2]), -torch.asin(d[..., 1].clamp(-1, 1))


def eye_look_curves(eyes: torch.Tensor) -> torch.Tensor:
    """ARKit gaze curves B x 52 (only eyeLook* non-zero) for eye rotations B x 2 x 3 (left, right)."""
    yaw, pitch = gaze_angles(eyes)
    out = torch.zeros(*eyes.shape[:-2], NUM_CURVES, dtype=eyes.dtype, device=eyes.device)
    amount = lambda a: (a / EYE_LOOK_ANGLE).clamp(0, 1)  # noqa: E731
    for side, k in (("Left", 0), ("Right", 1)):
        out[..., CURVE_INDEX[f"eyeLookDown{side}"]] = amount(pitch[..., k])
        out[..., CURVE_INDEX[f"eyeLookUp{side}"]] = amount(-pitch[..., k])
    # looking to the body's left (+yaw) turns the left eye outwards and the right eye inwards
    out[..., CURVE_INDEX["eyeLookOutLeft"]] = amount(yaw[..., 0])
    out[..., CURVE_INDEX["eyeLookInLeft"]] = amount(-yaw[..., 0])
    out[..., CURVE_INDEX["eyeLookInRight"]] = amount(yaw[..., 1])
    out[..., CURVE_INDEX["eyeLookOutRight"]] = amount(-yaw[..., 1])
    return out


def effective_curves(face: FacePose | None, batch: int) -> torch.Tensor | None:
    """The curves a body with ARKit targets applies: the given curves, with eye rotations as gaze curves (the larger
    of the two where both say something, so a capture that records both is not counted twice). -> B x 52 or None."""
    if face is None or (face.curves is None and face.eyes is None):
        return None
    curves = None if face.curves is None else face.curves.reshape(-1, NUM_CURVES).expand(batch, -1)
    if face.eyes is not None:
        gaze = eye_look_curves(face.eyes.reshape(-1, 2, 3)).expand(batch, -1)
        curves = gaze if curves is None else torch.maximum(curves, gaze.to(curves))
    return curves.clamp(0, 1)


def fold_offsets(blend: torch.Tensor, index: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Per-vertex transforms B x V x 4 x 4 (rest -> posed) with rest-frame offsets B x K x 3 of vertices `index` (K)
    applied first: A [I | o] = [A_R | A_t + A_R o]."""
    blend = blend.clone()
    index = index.to(blend.device)
    A = blend[:, index]
    A[..., :3, 3] += (A[..., :3, :3] @ offsets.to(A).unsqueeze(-1)).squeeze(-1)
    blend[:, index] = A
    return blend


@dataclass
class JawHinge:
    """A jaw for bodies without face targets: the lower-face vertices `index` (K) turn about the x axis through
    `pivot` (3) by jawOpen x JAW_OPEN_ANGLE, each scaled by its weight `weight` (K, in [0, 1])."""

    index: torch.Tensor
    weight: torch.Tensor
    pivot: torch.Tensor

    @classmethod
    def from_rest(cls, vertices: torch.Tensor, head_weight: torch.Tensor, head_joint: torch.Tensor,
                  nose: torch.Tensor) -> "JawHinge":  # fmt: skip
        """Find the lower face of a rest mesh V x 3 (y up, facing +z): vertices skinned to the head (`head_weight` V),
        below the mouth line 3.5 cm under the nose tip (`nose` 3) and in front of the head joint (3), blended in over
        1 cm; the hinge lies 1 cm in front of the head joint."""
        mouth_y = nose[1] - 0.035
        ramp = lambda x: (x / 0.01).clamp(0, 1)  # noqa: E731
        w = head_weight * ramp(mouth_y - vertices[:, 1]) * ramp(vertices[:, 2] - head_joint[2])
        index = torch.nonzero(w > 1e-3).squeeze(-1)
        pivot = head_joint + torch.tensor([0.0, 0.0, 0.01], dtype=head_joint.dtype)
        return cls(index, w[index], pivot)

    def offsets(self, vertices: torch.Tensor, jaw_open: torch.Tensor) -> torch.Tensor:
        """Rest-frame offsets B x K of the hinge vertices for jawOpen B: (R(a) - I)(v - pivot), a = weighted angle."""
        angle = jaw_open.reshape(-1, 1) * JAW_OPEN_ANGLE * self.weight.to(vertices)  # B x K
        p = vertices[self.index.to(vertices.device)] - self.pivot.to(vertices)  # K x 3
        c, s = torch.cos(angle), torch.sin(angle)
        # rotation about +x moves the chin (in front, +z) down: y' = c y - s z, z' = s y + c z
        dy = (c - 1) * p[:, 1] - s * p[:, 2]
        dz = s * p[:, 1] + (c - 1) * p[:, 2]
        return torch.stack([torch.zeros_like(dy), dy, dz], -1)


__all__ = [
    "ARKIT_NAMES", "NUM_CURVES", "CURVE_INDEX", "FacePose", "JAW_OPEN_ANGLE", "EYE_LOOK_ANGLE", "JawHinge",
    "apply_head", "curve_vector", "effective_curves", "eye_look_curves", "fold_offsets", "gaze_angles",
]  # fmt: skip
