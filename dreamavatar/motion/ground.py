"""Floor contact on the project's rest skeleton: sole points, per-frame grounding and clip-level floor anchoring.

The floor is where the soles of skeleton.REST_JOINTS stand with zero translation (y = FLOOR_Y). Heel and toe points
are attached to the ankle and foot joints, so a raised heel or a pointed toe is seen as such.
"""

from __future__ import annotations

import torch

from dreamavatar.body.skeleton import JOINT_INDEX, REST_JOINTS, forward_kinematics

FLOOR_Y = float(REST_JOINTS[:, 1].min())  # the toe joints' height in the rest pose (-0.94 m)

# (joint, rest-pose point attached to it): heels behind the ankles, balls at the foot joints, toe tips ahead.
SOLE_POINTS: tuple[tuple[int, tuple[float, float, float]], ...] = (
    (JOINT_INDEX["left_ankle"], (0.10, FLOOR_Y, -0.06)),
    (JOINT_INDEX["right_ankle"], (-0.10, FLOOR_Y, -0.06)),
    (JOINT_INDEX["left_ankle"], (0.11, FLOOR_Y, 0.10)),
    (JOINT_INDEX["right_ankle"], (-0.11, FLOOR_Y, 0.10)),
    (JOINT_INDEX["left_foot"], (0.11, FLOOR_Y, 0.16)),
    (JOINT_INDEX["right_foot"], (-0.11, FLOOR_Y, 0.16)),
)


def sole_points(poses: torch.Tensor, transl: torch.Tensor | None = None) -> torch.Tensor:
    """World positions of the sole points, F x 6 x 3 (heel, ball, toe tip; left then right for each)."""
    _, T = forward_kinematics(poses, None, transl)
    idx = [j for j, _ in SOLE_POINTS]
    p = torch.tensor([q for _, q in SOLE_POINTS], dtype=poses.dtype)
    return (T[:, idx, :3, :3] @ p[None, :, :, None]).squeeze(-1) + T[:, idx, :3, 3]


def lowest_point(poses: torch.Tensor, transl: torch.Tensor | None = None) -> torch.Tensor:
    """Height of the lowest sole point or joint in each frame, F."""
    joints, _ = forward_kinematics(poses, None, transl)
    soles = sole_points(poses, transl)
    return torch.minimum(joints[..., 1].min(1).values, soles[..., 1].min(1).values)


def ground_each_frame(poses: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """transl with y set per frame so the lowest point touches the floor (for clips without a vertical track)."""
    out = transl.clone()
    out[:, 1] = transl[:, 1] + FLOOR_Y - lowest_point(poses, transl)
    return out


def anchor_translation(poses: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """Make a recorded translation relative: x, z start at 0; y shifted once so the clip's lowest point is the floor.

    One shift for the whole clip keeps vertical motion (jumps, crouches) as recorded.
    """
    out = transl.clone()
    out[:, [0, 2]] -= transl[:1, [0, 2]]
    out[:, 1] += FLOOR_Y - lowest_point(poses, out).min()
    return out
