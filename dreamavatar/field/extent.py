"""Occupancy from the current density: how far from each body vertex the avatar's density reaches.

Body-guided sampling marks every cell within the density weight's reach of the posed body (8.3 cm while delta is
0), but most of that shell is empty: after stage 0 the density hugs the skin. `density_extent` measures, in the
canonical pose, the farthest point outside the body (nearest to each vertex) whose density exceeds a threshold;
`PosedAvatar.occupancy` then dilates each posed vertex by its own extent plus `EXTENT_MARGIN` (room to grow until
the next measurement) instead of the reach. The trainer measures it every `train.occupancy_every` steps.
"""

from __future__ import annotations

import torch

from dreamavatar.body.base import BodyOutput

EXTENT_CELL = 0.02  # metres between the canonical points the density is measured at
EXTENT_THRESHOLD = 0.01  # density (per metre) below which a point counts as empty: alpha < 1.2e-4 at a 12 mm step
EXTENT_MARGIN = 0.02 + EXTENT_CELL * 3**0.5 / 2  # growth room between measurements + the points' spacing


@torch.no_grad()
def density_extent(avatar, canonical: BodyOutput, baked=None, cell: float = EXTENT_CELL,
                   threshold: float = EXTENT_THRESHOLD) -> torch.Tensor:  # fmt: skip
    """Per vertex of the canonical body (V, metres): the largest distance from it of a point outside the body's solid,
    whose nearest vertex it is, where the avatar's density (canonical density x weight) exceeds `threshold`; 0 where
    none.

    avatar: an `AvatarField`; canonical: the body in its canonical pose (batch 1); baked: its `BakedField`, read
    instead of the NeRF and delta MLP when given."""
    from renderers.occupancy import OccupancyGrid

    posed = avatar.posed(canonical)
    grid = OccupancyGrid.from_points(posed.body.vertices, posed.reach, cell)  # the shell only: no hole filling
    idx = torch.nonzero(grid.occupied)
    pts = grid.aabb[0] + (idx.to(grid.aabb) + 0.5) * grid.cell_size
    # with the loose garments' delta floor, as the renderer weighs them: a skirt's density counts
    d = avatar.deformation(pts, posed.body, None if baked is None else baked.delta, posed.reach, posed.delta_floor())
    # the body's solid (its vertices' cells, holes filled, at the samplers' cell size) is sampled anyway: leave it out.
    # Not the normal test's "inside", which can misjudge creases (armpits) that the fill does not cover
    solid = OccupancyGrid.from_points(posed.body.vertices, 0.0, avatar.cfg.occupancy_cell, fill_holes=True)
    keep = torch.nonzero(torch.isfinite(d.d2) & ~solid.query(pts) & (d.weight > posed.weight_floor)).squeeze(-1)
    density = avatar.canonical.density if baked is None else (lambda x: baked.query(x)[0])
    sigma = density(d.points[keep]) * d.weight[keep]
    hit = keep[sigma > threshold]
    extent = torch.zeros(posed.body.vertices.shape[0], device=pts.device)
    return extent.scatter_reduce(0, d.index[hit], d.d2[hit].sqrt(), "amax")
