"""Retargeting SMPL poses onto a body model's own skeleton (anny's `cmu_mb` rig).

The idea: give every bone of the target rig a fixed *rest correction* G_b (a world rotation) that brings the rig from
its own rest pose to a clean T-pose whose bone directions match SMPL's T-pose. A SMPL pose then acts on top of it in
world-aligned frames: the world rotation of SMPL joint j is Q_j = Q_parent R_j, and the bone b mapped to j is posed by
the rotation Q_j G_b about its head, the heads following by forward kinematics of the SMPL chain run on the
T-corrected heads. Bones with no SMPL joint follow their parent rigidly, so their skinning transform is their
parent's and their skinning weights can be summed into the SMPL joint of their nearest mapped ancestor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from dreamavatar.body.skeleton import JOINT_NAMES, PARENTS

# SMPL joint -> anny `cmu_mb` bone whose head is that joint ("L/R" is filled in per side).
ANNY_CMU_MB_MAP: dict[str, str] = {
    "pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck", "head": "Head",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot", "left_foot": "LeftToeBase",
    "left_collar": "LeftShoulder", "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
    "left_hand": "LeftFingerBase",
    "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot", "right_foot": "RightToeBase",
    "right_collar": "RightShoulder", "right_shoulder": "RightArm", "right_elbow": "RightForeArm",
    "right_wrist": "RightHand", "right_hand": "RightFingerBase",
}  # fmt: skip

# T-pose targets (world: y up, faces +z, left +x) of the bone from a SMPL joint to its child joint. A target with a
# `None` x component keeps the bone's own (y, z) direction and only removes its sideways splay (the feet).
_LEFT_T_TARGETS: dict[str, tuple[str, tuple[float | None, float, float]]] = {
    "left_collar": ("left_shoulder", (1.0, 0.0, 0.0)),
    "left_shoulder": ("left_elbow", (1.0, 0.0, 0.0)),
    "left_elbow": ("left_wrist", (1.0, 0.0, 0.0)),
    "left_wrist": ("left_hand", (1.0, 0.0, 0.0)),
    "left_hip": ("left_knee", (0.0, -1.0, 0.0)),
    "left_knee": ("left_ankle", (0.0, -1.0, 0.0)),
    "left_ankle": ("left_foot", (None, 0.0, 0.0)),
}


def _t_targets() -> dict[str, tuple[str, tuple[float | None, float, float]]]:
    out = dict(_LEFT_T_TARGETS)
    for joint, (child, (x, y, z)) in _LEFT_T_TARGETS.items():
        out[joint.replace("left_", "right_")] = (child.replace("left_", "right_"), (None if x is None else -x, y, z))
    return out


T_POSE_TARGETS = _t_targets()


def rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The smallest rotation taking direction a to direction b (3-vectors, any length). Returns 3 x 3."""
    a = a / a.norm()
    b = b / b.norm()
    v = torch.linalg.cross(a, b)
    c = torch.dot(a, b)
    if c < -1 + 1e-9:  # opposite: turn 180 degrees about any axis perpendicular to a
        axis = torch.linalg.cross(a, torch.eye(3, dtype=a.dtype)[int(a.abs().argmin())])
        axis = axis / axis.norm()
        return 2 * torch.outer(axis, axis) - torch.eye(3, dtype=a.dtype)
    vx = torch.zeros(3, 3, dtype=a.dtype)
    vx[0, 1], vx[0, 2], vx[1, 0], vx[1, 2], vx[2, 0], vx[2, 1] = -v[2], v[1], v[2], -v[0], -v[1], v[0]
    return torch.eye(3, dtype=a.dtype) + vx + vx @ vx / (1 + c)


def mapped_ancestor(bone_parents: Sequence[int], bone_joint: Mapping[int, int]) -> list[int]:
    """For every bone, the SMPL joint of itself or of its nearest mapped ancestor. Returns a list of N joint ids."""
    out: list[int] = []
    for b, p in enumerate(bone_parents):
        if b in bone_joint:
            out.append(bone_joint[b])
        elif p < 0:
            raise ValueError("the root bone must map to a SMPL joint")
        else:
            out.append(out[p])  # parents precede children in the rig's bone order
    return out


def rest_correction(
    heads: torch.Tensor, bone_parents: Sequence[int], bone_index: Mapping[str, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bone world rotations that bring the rig from its rest pose to a T-pose matching SMPL's bone directions.

    heads: N x 3 rest bone heads (world frame); bone_parents: N parent ids (parents first, root -1);
    bone_index: SMPL joint name -> bone id. Returns (G N x 3 x 3, T-pose heads N x 3). A bone with a target gets the
    smallest extra rotation (a swing, no twist) that points it at its target after its parent's correction; the
    others keep their parent's correction.
    """
    heads = heads.to(torch.float64)
    n = heads.shape[0]
    joint_of_bone = {b: name for name, b in bone_index.items()}
    G = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
    t_heads = heads.clone()
    for b, p in enumerate(bone_parents):
        if p >= 0:
            G[b] = G[p]
            t_heads[b] = t_heads[p] + G[p] @ (heads[b] - heads[p])
        name = joint_of_bone.get(b)
        if name not in T_POSE_TARGETS:
            continue
        child, target = T_POSE_TARGETS[name]
        direction = G[b] @ (heads[bone_index[child]] - heads[b])
        goal = torch.tensor([0.0 if target[0] is None else target[0], *target[1:]], dtype=torch.float64)
        if target[0] is None:
            goal = direction.clone()
            goal[0] = 0.0
        G[b] = rotation_between(direction, goal) @ G[b]
    return G, t_heads


def smpl_bone_table(bone_labels: Sequence[str]) -> dict[str, int]:
    """SMPL joint name -> bone id in anny's `cmu_mb` rig (every one of the 24 joints)."""
    index = {label: i for i, label in enumerate(bone_labels)}
    missing = [bone for bone in ANNY_CMU_MB_MAP.values() if bone not in index]
    if missing:
        raise ValueError(f"anny rig lacks the bones {missing}: build it with rig='cmu_mb'")
    return {name: index[ANNY_CMU_MB_MAP[name]] for name in JOINT_NAMES}


def check_chain(bone_parents: Sequence[int], bone_index: Mapping[str, int]) -> None:
    """The SMPL chain must be embedded in the rig: each joint's bone descends from its SMPL parent's bone."""
    for j, p in enumerate(PARENTS):
        if p < 0:
            continue
        b, target = bone_index[JOINT_NAMES[j]], bone_index[JOINT_NAMES[p]]
        while b >= 0 and b != target:
            b = bone_parents[b]
        if b != target:
            raise ValueError(f"rig bone of {JOINT_NAMES[j]} does not descend from that of {JOINT_NAMES[p]}")
