"""The SMPL 24-joint kinematic tree: the one pose format inside dreamavatar.

A pose is B x 24 x 3 axis-angle in SMPL joint order; joint 0's rotation is the global orientation. Rest frames are
world-aligned (y up, the body faces +z, its left is +x), so a joint's local rotation acts in its parent's world frame.
The rest joint positions here are the project's own rough human proportions (1.7 m, pelvis at the origin), used where
no body model is at hand (built-in motion design, BVH mapping, tests); body models give their own joints.
"""

from __future__ import annotations

import math

import roma
import torch

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip
NUM_JOINTS = 24
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
JOINT_INDEX = {n: i for i, n in enumerate(JOINT_NAMES)}

# Left/right partner of each joint (itself on the midline): for mirroring poses.
MIRROR: tuple[int, ...] = tuple(
    JOINT_INDEX[n.replace("left_", "#").replace("right_", "left_").replace("#", "right_")] for n in JOINT_NAMES
)

# The project's own rough T-pose joint positions in metres (not SMPL data): pelvis at the origin.
_HALF = {
    "pelvis": (0.0, 0.0, 0.0), "left_hip": (0.09, -0.08, 0.0), "spine1": (0.0, 0.10, -0.01),
    "left_knee": (0.10, -0.48, 0.0), "spine2": (0.0, 0.23, 0.0), "left_ankle": (0.10, -0.88, -0.03),
    "spine3": (0.0, 0.29, 0.01), "left_foot": (0.11, -0.94, 0.10), "neck": (0.0, 0.50, -0.01),
    "left_collar": (0.07, 0.41, 0.0), "head": (0.0, 0.58, 0.03), "left_shoulder": (0.17, 0.44, -0.01),
    "left_elbow": (0.43, 0.44, -0.02), "left_wrist": (0.68, 0.44, -0.01), "left_hand": (0.76, 0.44, -0.01),
}  # fmt: skip


def _rest_joints() -> torch.Tensor:
    out = []
    for n in JOINT_NAMES:
        if n.startswith("right_"):
            x, y, z = _HALF[n.replace("right_", "left_")]
            out.append((-x, y, z))
        else:
            out.append(_HALF[n])
    return torch.tensor(out, dtype=torch.float32)


REST_JOINTS: torch.Tensor = _rest_joints()  # 24 x 3, T-pose


def a_pose(batch: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The canonical A-pose: shoulders rotated 45 degrees about z, arms down. Returns B x 24 x 3."""
    pose = torch.zeros(batch, NUM_JOINTS, 3, dtype=dtype)
    pose[:, JOINT_INDEX["left_shoulder"], 2] = -math.pi / 4
    pose[:, JOINT_INDEX["right_shoulder"], 2] = math.pi / 4
    return pose


def forward_kinematics(
    pose: torch.Tensor, rest_joints: torch.Tensor | None = None, transl: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward kinematics of the SMPL chain.

    pose: B x 24 x 3 axis-angle; rest_joints: 24 x 3 or B x 24 x 3 (T-pose joint positions, default REST_JOINTS);
    transl: B x 3. Returns (joints B x 24 x 3, transforms B x 24 x 4 x 4), where transforms[j] maps a rest-pose
    point attached to joint j to its posed position (the skinning transform of joint j).
    """
    B = pose.shape[0]
    rest = (REST_JOINTS if rest_joints is None else rest_joints).to(pose)
    rest = rest.expand(B, NUM_JOINTS, 3)
    local_rot = roma.rotvec_to_rotmat(pose)  # B x 24 x 3 x 3
    rots: list[torch.Tensor] = []
    pos: list[torch.Tensor] = []
    for j, p in enumerate(PARENTS):
        if p < 0:
            rots.append(local_rot[:, j])
            pos.append(rest[:, j])
        else:
            rots.append(rots[p] @ local_rot[:, j])
            pos.append(pos[p] + (rots[p] @ (rest[:, j] - rest[:, p]).unsqueeze(-1)).squeeze(-1))
    R = torch.stack(rots, 1)
    J = torch.stack(pos, 1)
    if transl is not None:
        J = J + transl.to(J)[:, None]
    T = torch.zeros(B, NUM_JOINTS, 4, 4, dtype=pose.dtype, device=pose.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = J - (R @ rest.unsqueeze(-1)).squeeze(-1)
    T[..., 3, 3] = 1
    return J, T


def mirror_pose(pose: torch.Tensor) -> torch.Tensor:
    """Mirror a pose left<->right across the body's x = 0 plane. pose: ... x 24 x 3."""
    out = pose[..., list(MIRROR), :].clone()
    out[..., 1:] = -out[..., 1:]  # reflecting x negates the y and z components of an axis-angle vector
    return out
