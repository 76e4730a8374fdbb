"""The exported skeleton's names and frame: SMPL or Mixamo joint names, VRM humanoid bones, the move of a rig onto
the floor and its re-binding in another rest pose.

Mixamo's names (`mixamorig:Hips`, ...) are what Blender's and Unity's retargeting tools, Unity's Humanoid
auto-mapping and Mixamo's own clips look for; SMPL's names are kept for SMPL-based tools.
"""

from __future__ import annotations

import numpy as np

# the joint names come from dreamavatar.body (torch) inside the functions: the command line reads SKELETON_NAMES
# while it builds its parser, before any heavy import (so a first run says what it is doing at once)
SKELETON_NAMES = ("mixamo", "smpl")

# SMPL joint -> Mixamo bone (without the "mixamorig:" namespace). SMPL's hand joint sits at the knuckles: the middle
# finger's first bone.
_MIXAMO = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "spine1": "Spine", "left_knee": "LeftLeg",
    "right_knee": "RightLeg", "spine2": "Spine1", "left_ankle": "LeftFoot", "right_ankle": "RightFoot",
    "spine3": "Spine2", "left_foot": "LeftToeBase", "right_foot": "RightToeBase", "neck": "Neck",
    "left_collar": "LeftShoulder", "right_collar": "RightShoulder", "head": "Head", "left_shoulder": "LeftArm",
    "right_shoulder": "RightArm", "left_elbow": "LeftForeArm", "right_elbow": "RightForeArm",
    "left_wrist": "LeftHand", "right_wrist": "RightHand", "left_hand": "LeftHandMiddle1",
    "right_hand": "RightHandMiddle1",
}  # fmt: skip

# SMPL joint -> VRM 1.0 humanoid bone (VRMC_vrm humanoid.humanBones).
VRM_BONES = {
    "pelvis": "hips", "left_hip": "leftUpperLeg", "right_hip": "rightUpperLeg", "spine1": "spine",
    "left_knee": "leftLowerLeg", "right_knee": "rightLowerLeg", "spine2": "chest", "left_ankle": "leftFoot",
    "right_ankle": "rightFoot", "spine3": "upperChest", "left_foot": "leftToes", "right_foot": "rightToes",
    "neck": "neck", "left_collar": "leftShoulder", "right_collar": "rightShoulder", "head": "head",
    "left_shoulder": "leftUpperArm", "right_shoulder": "rightUpperArm", "left_elbow": "leftLowerArm",
    "right_elbow": "rightLowerArm", "left_wrist": "leftHand", "right_wrist": "rightHand",
    "left_hand": "leftMiddleProximal", "right_hand": "rightMiddleProximal",
}  # fmt: skip


def joint_names(scheme: str) -> tuple[str, ...]:
    """The 24 joint node names in SMPL joint order: scheme "smpl" (pelvis, left_hip, ...) or "mixamo"."""
    from dreamavatar.body.skeleton import JOINT_NAMES

    if scheme == "smpl":
        return JOINT_NAMES
    if scheme == "mixamo":
        return tuple(f"mixamorig:{_MIXAMO[n]}" for n in JOINT_NAMES)
    raise ValueError(f"unknown skeleton names {scheme!r}: use one of {', '.join(SKELETON_NAMES)}")


def translation(offset: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = offset
    return T


def shift_transforms(joint_transforms: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Rest -> posed joint transforms (... x 4 x 4) of a rig moved by `offset` (metres): T(o) A T(-o)."""
    return translation(offset) @ joint_transforms @ translation(-np.asarray(offset))


def floor_offset(vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """The translation that puts a standing figure's lowest point on y = 0 and the midpoint of its ankles on the
    vertical axis (the origin on the floor between the feet). vertices V x 3, joints 24 x 3 -> 3."""
    from dreamavatar.body.skeleton import JOINT_NAMES

    ankles = joints[[JOINT_NAMES.index("left_ankle"), JOINT_NAMES.index("right_ankle")]].mean(0)
    return np.array([-ankles[0], -vertices[:, 1].min(), -ankles[2]])
