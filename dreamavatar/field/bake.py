"""Baking: the canonical field (density, albedo and the deformation's delta) sampled once to a dense grid, then read
by trilinear lookups. Animation re-renders the same canonical field in every frame, so a grid lookup replaces the
hash grid + MLPs per sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from dreamavatar.field.avatar import AvatarField

if TYPE_CHECKING:
    from dreamavatar.body.base import BodyOutput
    from renderers.occupancy import OccupancyGrid


class BakedField:
    """Channels (sigma, albedo r g b, delta) on a grid over aabb (2 x 3), values at the grid points (corners of the
    box included). Outside the box: sigma 0. `query` and `delta` match AvatarField's canonical parts."""

    def __init__(self, grid: torch.Tensor, aabb: torch.Tensor) -> None:
        self.grid = grid  # 5 x X x Y x Z
        self.aabb = aabb.reshape(2, 3).float()

    @classmethod
    @torch.no_grad()
    def bake(
        cls,
        avatar: AvatarField,
        aabb: torch.Tensor,
        cell: float = 0.01,
        occupancy: "OccupancyGrid | None" = None,
        chunk: int = 1 << 16,
    ) -> "BakedField":
        """Sample `avatar`'s canonical field on a grid of spacing about `cell` metres over aabb (2 x 3). With an
        `occupancy` (canonical space), only grid points in or next to occupied cells are evaluated; the rest stay 0."""
        aabb = aabb.reshape(2, 3).float()
        dims = [max(2, int(torch.ceil((aabb[1, a] - aabb[0, a]) / cell)) + 1) for a in range(3)]
        axes = [torch.linspace(float(aabb[0, a]), float(aabb[1, a]), dims[a]) for a in range(3)]
        pts = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        values = torch.zeros(pts.shape[0], 5)
        todo = torch.arange(pts.shape[0])
        if occupancy is not None:  # a grid point matters if any cell touching it within one baked cell is occupied
            near = torch.zeros(pts.shape[0], dtype=torch.bool)
            for o in torch.tensor([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=torch.float32):
                near |= occupancy.query(pts + 0.5 * cell * o)
            todo = torch.nonzero(near).squeeze(-1)
        for i in range(0, todo.shape[0], chunk):
            idx = todo[i : i + chunk]
            x = pts[idx]
            sigma, albedo = avatar.canonical.query(x)
            values[idx] = torch.cat([sigma[:, None], albedo, avatar.deformation.delta(x)[:, None]], 1)
        return cls(values.T.reshape(5, *dims).contiguous(), aabb)

    def lookup(self, x: torch.Tensor) -> torch.Tensor:
        """Trilinear interpolation of all channels at points N x 3 -> N x 5 (zeros outside the box)."""
        u = (x - self.aabb[0]) / (self.aabb[1] - self.aabb[0]) * 2 - 1  # [-1, 1] across the box
        # grid_sample's (x, y, z) index the last, middle and first spatial dims: reverse the axes
        g = u.flip(-1).reshape(1, -1, 1, 1, 3).to(self.grid)
        v = F.grid_sample(self.grid[None], g, mode="bilinear", padding_mode="zeros", align_corners=True)
        return v.reshape(5, -1).T

    def query(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Canonical points N x 3 -> (sigma N, albedo N x 3)."""
        v = self.lookup(x)
        return v[:, 0].clamp(min=0), v[:, 1:4]

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        """Canonical points N x 3 -> delta N (m^2)."""
        return self.lookup(x)[:, 4].clamp(min=0)


def bake_avatar(avatar: AvatarField, canonical: "BodyOutput", cell: float = 0.01) -> BakedField:
    """Bake `avatar` around its canonical body (`body.canonical()`): the weight's reach, inside filled."""
    posed = avatar.posed(canonical)
    return BakedField.bake(avatar, posed.aabb(), cell, occupancy=posed.occupancy())
