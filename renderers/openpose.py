"""OpenPose COCO-18 keypoints: names, limbs and the standard colours that ControlNet-openpose was trained on."""

from __future__ import annotations

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
    "right_ear", "left_ear",
)  # fmt: skip
NUM_KEYPOINTS = 18
FACE_KEYPOINTS: tuple[int, ...] = (0, 14, 15, 16, 17)  # nose, eyes, ears: dropped when any surface hides them
EAR_KEYPOINTS: tuple[int, ...] = (16, 17)

# The 17 limbs drawn by OpenPose (pairs of keypoint indices) and the 18 standard colours (RGB); limb i uses colour i,
# keypoint k uses colour k.
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
