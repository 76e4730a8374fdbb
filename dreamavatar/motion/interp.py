"""Interpolating rotations between frames (motions and face tracks)."""

from __future__ import annotations

import torch


def slerp(q0: torch.Tensor, q1: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Element-wise shortest-arc slerp of unit quaternions. q0, q1: ... x 4; w: broadcastable to ... (0 -> q0)."""
    dot = (q0 * q1).sum(-1)
    q1 = torch.where(dot[..., None] < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin = torch.sin(theta)
    small = sin < 1e-6
    safe = torch.where(small, torch.ones_like(sin), sin)
    a = torch.where(small, 1 - w, torch.sin((1 - w) * theta) / safe)
    b = torch.where(small, w, torch.sin(w * theta) / safe)
    q = a[..., None] * q0 + b[..., None] * q1
    return q / q.norm(dim=-1, keepdim=True)
