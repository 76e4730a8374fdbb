"""Per-joint Euler conventions and joint limits (the project's own anatomical estimates, degrees).

Rest frames are world-aligned (x = the body's left, y = up, z = facing), so a joint's angles are about those axes
in its parent's frame. Each joint composes its three angles in an order that puts the twist about its own bone
innermost (`roma` intrinsic conventions: "XZY" means R = Rx @ Rz @ Ry); the middle angle's limits stay inside
(-90, 90) so angles <-> rotation is one-to-one inside the limits. Angles are always given as (x, y, z).
Right-side joints mirror the left: same x limits, y and z negated.

Sign guide (left side): hip x < 0 lifts the thigh forward, knee x > 0 bends it, ankle x > 0 points the toes;
spine/neck x > 0 bends forward; shoulder z = -45 is the A-pose (-90 arm down, +90 arm up), shoulder y < 0 swings the
arm forward, elbow y < 0 bends it.
"""

from __future__ import annotations

import roma
import torch

from dreamavatar.body.skeleton import JOINT_NAMES
from dreamavatar.motion.motion import single_thread

# name -> (intrinsic convention, ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi))) for the midline and the left side.
_TABLE: dict[str, tuple[str, tuple[tuple[float, float], ...]]] = {
    "pelvis": ("YXZ", ((-30, 60), (-180, 180), (-30, 30))),  # global orientation: yaw outermost
    "spine1": ("XZY", ((-25, 45), (-30, 30), (-25, 25))),
    "spine2": ("XZY", ((-20, 35), (-25, 25), (-20, 20))),
    "spine3": ("XZY", ((-20, 35), (-25, 25), (-20, 20))),
    "neck": ("XZY", ((-35, 40), (-50, 50), (-30, 30))),
    "head": ("XZY", ((-30, 30), (-35, 35), (-20, 20))),
    "left_hip": ("XZY", ((-120, 30), (-40, 40), (-25, 60))),
    "left_knee": ("XZY", ((0, 145), (-15, 15), (-5, 5))),
    "left_ankle": ("XYZ", ((-40, 50), (-20, 20), (-25, 25))),
    "left_foot": ("XYZ", ((-50, 20), (-5, 5), (-5, 5))),
    "left_collar": ("ZYX", ((-15, 15), (-25, 15), (-10, 30))),
    "left_shoulder": ("ZYX", ((-90, 90), (-85, 55), (-100, 130))),
    "left_elbow": ("YZX", ((-80, 80), (-150, 0), (-10, 10))),
    "left_wrist": ("ZYX", ((-60, 60), (-30, 30), (-70, 70))),
    "left_hand": ("ZYX", ((-10, 10), (-10, 10), (-30, 30))),
}


def _build() -> tuple[list[str], torch.Tensor]:
    conv, lims = [], []
    for name in JOINT_NAMES:
        if name.startswith("right_"):
            c, (x, y, z) = _TABLE[name.replace("right_", "left_")]
            y, z = (-y[1], -y[0]), (-z[1], -z[0])
        else:
            c, (x, y, z) = _TABLE[name]
        conv.append(c)
        lims.append((x, y, z))
    return conv, torch.tensor(lims, dtype=torch.float32)


CONVENTIONS, LIMITS_DEG = _build()  # 24 conventions; 24 x 3 (x, y, z) x 2 (lo, hi) degrees
_JOINTS_BY_CONVENTION = {c: [j for j, cj in enumerate(CONVENTIONS) if cj == c] for c in dict.fromkeys(CONVENTIONS)}


def euler_to_rotvec(angles_deg: torch.Tensor) -> torch.Tensor:
    """Per-joint Euler angles ... x 24 x 3 (x, y, z degrees, each joint's convention) -> axis-angle ... x 24 x 3."""
    out = torch.empty_like(angles_deg)
    with single_thread():
        for conv, joints in _JOINTS_BY_CONVENTION.items():  # one call per convention: far fewer small ops
            a = angles_deg[..., joints, :]
            ordered = [a[..., "XYZ".index(ax)] for ax in conv]
            out[..., joints, :] = roma.euler_to_rotvec(conv, ordered, degrees=True)
    return out


def rotvec_to_euler(pose: torch.Tensor) -> torch.Tensor:
    """Axis-angle ... x 24 x 3 -> per-joint Euler angles ... x 24 x 3 (x, y, z degrees)."""
    out = torch.empty_like(pose)
    with single_thread():
        for j, conv in enumerate(CONVENTIONS):
            ordered = roma.rotvec_to_euler(conv, pose[..., j, :], degrees=True)
            for k, ax in enumerate(conv):
                out[..., j, "XYZ".index(ax)] = ordered[..., k] if torch.is_tensor(ordered) else ordered[k]
    return out


def clamp_to_limits(angles_deg: torch.Tensor) -> torch.Tensor:
    """Clamp Euler angles ... x 24 x 3 into LIMITS_DEG."""
    lim = LIMITS_DEG.to(angles_deg)
    return torch.maximum(torch.minimum(angles_deg, lim[..., 1]), lim[..., 0])


def within_limits(pose: torch.Tensor, tol_deg: float = 1e-3) -> torch.Tensor:
    """Whether each pose ... x 24 x 3 (axis-angle) is inside the limits: a bool tensor of shape ... ."""
    e = rotvec_to_euler(pose)
    lim = LIMITS_DEG.to(e)
    ok = (e >= lim[..., 0] - tol_deg) & (e <= lim[..., 1] + tol_deg)
    return ok.flatten(-2).all(-1)

