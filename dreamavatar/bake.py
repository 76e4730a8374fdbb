"""Baking: sample the canonical field (density + albedo) once onto a dense grid, so animation replaces each
hash-grid + MLP query by one trilinear lookup."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from dreamavatar.body.base import BodyOutput
from dreamavatar.field.avatar import AvatarField


class BakedField:
    """A canonical query `points N x 3 -> (sigma N, albedo N x 3)` backed by a grid over `aabb` (2 x 3).
    grid: 4 x D x H x W (sigma, r, g, b) with D along z, H along y, W along x."""

    def __init__(self, grid: torch.Tensor, aabb: torch.Tensor):
        self.grid, self.aabb = grid, aabb

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = (x - self.aabb[0]) / (self.aabb[1] - self.aabb[0]) * 2 - 1  # N x 3 in [-1, 1], (x, y, z)
        v = F.grid_sample(self.grid[None], u.reshape(1, -1, 1, 1, 3).to(self.grid), mode="bilinear",
                          padding_mode="zeros", align_corners=True)[0, :, :, 0, 0]  # fmt: skip
        return v[0].clamp(min=0), v[1:].T.clamp(0, 1)


@torch.no_grad()
def bake_canonical(
    avatar: AvatarField, canonical: BodyOutput, resolution: int = 128, margin: float = 0.1, chunk: int = 1 << 18
) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Bake the canonical field over the canonical body's box grown by `margin` metres; `resolution` cells along
    the longest side (cubic cells)."""
    v = canonical.vertices[0].float()
    lo, hi = v.min(0).values - margin, v.max(0).values + margin
    step = float((hi - lo).max()) / (resolution - 1)
    counts = [max(2, int(torch.ceil((hi[i] - lo[i]) / step)) + 1) for i in range(3)]
    hi = lo + step * (torch.tensor(counts, dtype=torch.float32) - 1)
    axes = [torch.linspace(float(lo[i]), float(hi[i]), counts[i]) for i in range(3)]
    zz, yy, xx = torch.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    pts = torch.stack([xx, yy, zz], -1).reshape(-1, 3)
    out = torch.empty(pts.shape[0], 4)
    for s in range(0, pts.shape[0], chunk):
        sigma, albedo = avatar.canonical.query(pts[s : s + chunk])
        out[s : s + chunk, 0], out[s : s + chunk, 1:] = sigma, albedo
    grid = out.T.reshape(4, counts[2], counts[1], counts[0]).contiguous()
    return BakedField(grid, torch.stack([lo, hi]))
