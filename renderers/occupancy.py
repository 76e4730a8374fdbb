"""A boolean occupancy grid over a box: where a field may be non-zero, so samplers can skip everything else.

Built from points (e.g. posed body vertices) dilated by a radius: every cell that may hold a location within `radius`
of a point is marked (conservative: the cell-to-cell box distance decides, so nothing within the radius is missed).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from renderers.errors import RenderError


def ball_offsets(radius_cells: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """Integer cell offsets K x 3 whose cells may hold a point within `radius_cells` (in cell units) of some point of
    the centre cell: the gap between the two cells, max(0, |o| - 1) per axis, is within the radius."""
    k = math.ceil(radius_cells)
    r = torch.arange(-k, k + 1, device=device)
    o = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    gap = (o.abs() - 1).clamp(min=0).float()
    return o[(gap**2).sum(-1) <= radius_cells**2 + 1e-9]


class OccupancyGrid:
    """occupied: X x Y x Z bool over aabb (2 x 3: min, max), cubic cells of side `cell_size`."""

    def __init__(self, occupied: torch.Tensor, aabb: torch.Tensor):
        self.occupied = occupied.bool()
        self.aabb = aabb.reshape(2, 3).float().to(occupied.device)
        self.resolution = torch.tensor(occupied.shape, device=occupied.device)
        self.cell_size = (self.aabb[1] - self.aabb[0]) / self.resolution
        self._padded: tuple | None = None  # query's bordered grid and constants, made at the first query

    @staticmethod
    def box_for(points: torch.Tensor, radius: float, cell_size: float) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """A box around points P x 3 with `radius` + one cell of margin, a whole number of cells. -> (aabb, dims)."""
        lo = points.min(0).values - radius - cell_size
        hi = points.max(0).values + radius + cell_size
        dims = torch.ceil((hi - lo) / cell_size).long()
        return torch.stack([lo, lo + dims * cell_size]), tuple(int(d) for d in dims)

    @classmethod
    def from_points(
        cls,
        points: torch.Tensor,
        radius: float | torch.Tensor,
        cell_size: float = 0.02,
        aabb: torch.Tensor | None = None,
        fill_holes: bool = False,
    ) -> "OccupancyGrid":
        """Cells within `radius` of any of points P x 3 (one radius, or one per point: a P tensor). Without `aabb`
        the box fits the dilated points; with it, the box is `aabb` and points outside it only mark the cells inside.
        `fill_holes` also marks empty regions the marked cells enclose: the inside of a closed surface given by its
        vertices (a body is solid)."""
        if points.numel() == 0:
            raise RenderError("OccupancyGrid.from_points got no points: give the body's vertices (P x 3)")
        points = points.detach().reshape(-1, 3).float()
        radii = torch.as_tensor(radius, dtype=torch.float32, device=points.device).detach().reshape(-1)
        if radii.numel() not in (1, points.shape[0]):
            raise RenderError(f"{radii.numel()} radii for {points.shape[0]} points: give one radius or one per point")
        r_max = float(radii.max())
        if cell_size <= 0 or float(radii.min()) < 0:
            raise RenderError(f"cell_size {cell_size} and radius {r_max}: give cell_size > 0 and radius >= 0")
        if aabb is None:
            aabb, dims = cls.box_for(points, r_max, cell_size)
        else:
            aabb = aabb.reshape(2, 3).float().to(points.device)
            dims = tuple(int(d) for d in torch.ceil((aabb[1] - aabb[0]) / cell_size).long())
            aabb = torch.stack([aabb[0], aabb[0] + torch.tensor(dims, device=points.device) * cell_size])
        k = int(ball_offsets(r_max / cell_size, points.device).abs().max())
        # a padded grid (k cells each side) takes every offset without bounds checks; cells as flat indices
        pad = torch.tensor(dims, device=points.device) + 2 * k
        strides = torch.tensor([pad[1] * pad[2], pad[2], 1], device=points.device)
        cells = torch.floor((points - aabb[0]) / cell_size).long() + k
        inside = ((cells >= 0) & (cells < pad)).all(-1)  # points too far outside the box reach no cell of it
        grid = torch.zeros(int(pad.prod()), dtype=torch.bool, device=points.device)
        radii = radii.expand(points.shape[0])[inside]
        flat_all = cells[inside] @ strides
        for r in torch.unique(radii).tolist():  # one dilation per distinct radius
            flat = torch.unique(flat_all[radii == r])  # many points share a cell: dilate each cell once
            offsets = ball_offsets(r / cell_size, points.device)
            grid[(flat[:, None] + (offsets @ strides)[None]).reshape(-1)] = True
        grid = grid.reshape(*pad.tolist())[k : k + dims[0], k : k + dims[1], k : k + dims[2]].contiguous()
        if fill_holes:
            from scipy.ndimage import binary_fill_holes

            grid = torch.from_numpy(binary_fill_holes(grid.cpu().numpy())).to(grid.device)
        return cls(grid, aabb)

    @classmethod
    def from_density(
        cls,
        density: Callable[[torch.Tensor], torch.Tensor],
        aabb: torch.Tensor,
        resolution: int = 64,
        threshold: float = 0.01,
        dilate_cells: int = 1,
        chunk: int = 1 << 18,
    ) -> "OccupancyGrid":
        """Cells whose centre density (a callable points N x 3 -> N) exceeds `threshold`, dilated by `dilate_cells`
        (a coarse grid of a known field, e.g. a baked canonical NeRF). Centre tests can miss thin parts: dilate."""
        aabb = aabb.reshape(2, 3).float()
        res = (resolution,) * 3
        frac = (torch.arange(resolution, device=aabb.device) + 0.5) / resolution
        axes = [aabb[0, a] + frac * (aabb[1, a] - aabb[0, a]) for a in range(3)]
        centres = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        with torch.no_grad():
            dens = torch.cat([density(centres[i : i + chunk]).reshape(-1) for i in range(0, len(centres), chunk)])
        occ = (dens > threshold).reshape(res).float()
        if dilate_cells > 0:
            k = 2 * dilate_cells + 1
            occ = torch.nn.functional.max_pool3d(occ[None, None], k, stride=1, padding=dilate_cells)[0, 0]
        return cls(occ > 0, aabb)

    def query(self, points: torch.Tensor) -> torch.Tensor:
        """Whether each of points N x 3 lies in an occupied cell (False outside the box). -> N bool."""
        if self._padded is None or self._padded[0].device != points.device or self._padded[1].dtype != points.dtype:
            # the grid with an empty border cell on every side: a point outside the box clamps onto the border, so
            # one clamp replaces the bounds test (samplers query every marched step: half the time of a test)
            res = self.resolution.to(points.device)
            inv = (1.0 / self.cell_size).to(points)
            occ = torch.nn.functional.pad(self.occupied.to(points.device), (1, 1, 1, 1, 1, 1)).reshape(-1)
            strides = torch.stack([(res[1] + 2) * (res[2] + 2), res[2] + 2, torch.ones_like(res[2])])
            offset = 1.0 - self.aabb[0].to(points) * inv  # cell coordinate of the origin, border included
            self._padded = (occ, inv[None], offset, (res + 1).to(points), strides)
        occ, inv, offset, top, strides = self._padded
        cells = torch.addcmul(offset, points, inv).clamp_(min=torch.zeros_like(top), max=top).long()
        return occ[(cells * strides).sum(-1)]

    @property
    def fraction(self) -> float:
        """Share of occupied cells."""
        return float(self.occupied.float().mean())

    def to(self, device: torch.device | str) -> "OccupancyGrid":
        return OccupancyGrid(self.occupied.to(device), self.aabb.to(device))
