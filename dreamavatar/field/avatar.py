"""The avatar: a canonical NeRF + the skeleton-tied deformation, and its posed instances the renderer draws.

`AvatarField` holds the trainable parts. `AvatarField.posed(body_output)` gives a `PosedAvatar`, the field callable
`(points N x 3, dirs N x 3) -> (sigma N, rgb N x 3)` of renderers.volume for that one posed body, with an occupancy
grid for body-guided sampling. sigma(x) = sigma_canonical(x_c) * w(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from dreamavatar.body.base import BodyOutput
from dreamavatar.field.deformation import Deformation, DeformationConfig, PosedBody, density_weight
from dreamavatar.field.loose import LooseConfig, LooseRegions, loose_volumes
from dreamavatar.field.nerf import CanonicalField, NeRFConfig

if TYPE_CHECKING:
    from dreamavatar.field.bake import BakedField

OCCUPANCY_RADIUS_STEP = 0.005  # metres: occupancy radii are rounded up to this (see PosedAvatar.occupancy)


def _round_up_radius(radius: float) -> float:
    """`radius` rounded up to a multiple of OCCUPANCY_RADIUS_STEP (so that one cached grid serves nearby radii)."""
    return math.ceil(radius / OCCUPANCY_RADIUS_STEP - 1e-9) * OCCUPANCY_RADIUS_STEP


@dataclass
class AvatarConfig:
    nerf: NeRFConfig = field(default_factory=NeRFConfig)
    deformation: DeformationConfig = field(default_factory=DeformationConfig)
    occupancy_cell: float = field(default=0.02, metadata={"gt": 0})  # metres, cell size of the body-guided sampling grid
    loose: LooseConfig = field(default_factory=LooseConfig)  # room for the spec's loose garments


class AvatarField(nn.Module):
    """Canonical field + deformation (delta MLP). `posed(out)` binds them to a posed body for rendering."""

    Config = AvatarConfig

    def __init__(self, cfg: AvatarConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or AvatarConfig()
        self.canonical = CanonicalField(cfg.nerf)
        self.deformation = Deformation(cfg.deformation)
        self._last_body: tuple | None = None  # (key, PosedBody) of the last pose prepared (see `posed`)
        # per canonical vertex, how far the density reaches (`dreamavatar.field.extent`); None: the weight's reach
        self.extent: torch.Tensor | None = None
        self._extent_version = 0
        self._max_delta: tuple | None = None  # (key, value) of `max_delta`
        self.loose: LooseRegions | None = None  # not trained: rebuilt from the run's spec (`set_spec`)

    def set_extent(self, extent: torch.Tensor | None) -> None:
        """Occupancy from the current density: samplers then dilate each vertex by its extent (+ a margin), not the
        weight's reach. extent: V metres (`density_extent`), or None for the reach everywhere."""
        self.extent = None if extent is None else extent.detach().float()
        self._extent_version += 1

    def set_spec(self, spec, canonical: BodyOutput) -> None:
        """Give the spec's loose garments room to leave the body (`dreamavatar.field.loose`); None removes it."""
        regions = LooseRegions(loose_volumes(spec, canonical, self.cfg.loose), canonical, self.cfg.loose)
        self.loose = regions if regions else None

    def posed(
        self, out: BodyOutput, index: int = 0, baked: "BakedField | None" = None, light_dir: torch.Tensor | None = None
    ) -> "PosedAvatar":
        """The field of pose `index` of `out`. `baked` replaces the NeRF and delta MLP; `light_dir` shades.

        The prepared body (KD-tree, inverse transforms, normals, occupancy grids) of the last `out` is kept: the
        same unchanged output posed again (stage 1 renders the canonical body every step) reuses it."""
        d = self.cfg.deformation
        v = out.vertices
        key = (id(v), v._version, v.device, index, d.knn, d.knn_workers)
        if self._last_body is not None and self._last_body[0] == key:
            body = self._last_body[2]
        else:
            body = PosedBody.from_output(out, index, d.knn, d.knn_workers)
            self._last_body = (key, v, body)  # holds the vertices so their id is not reused
        return PosedAvatar(self, body, baked, light_dir, out, index)

    def max_delta(self, canonical_vertices: torch.Tensor) -> float:
        """Largest delta (m^2) over the canonical body's vertices: sets how far from the skin density may reach.
        Kept while the delta MLP's weights are unchanged (every frame of an animation asks again)."""
        key = (canonical_vertices.shape, canonical_vertices.device,
               tuple(p._version for p in self.deformation.parameters()), self.deformation.training)  # fmt: skip
        if self._max_delta is not None and self._max_delta[0] == key:
            return self._max_delta[1]
        with torch.no_grad():
            value = float(self.deformation.delta(canonical_vertices.reshape(-1, 3)).max())
        self._max_delta = (key, value)
        return value


class PosedAvatar:
    """The renderer's field for one posed body. Evaluates the canonical field only where w is not negligible."""

    def __init__(
        self,
        avatar: AvatarField,
        body: PosedBody,
        baked: "BakedField | None" = None,
        light_dir: torch.Tensor | None = None,
        out: BodyOutput | None = None,
        index: int = 0,
    ) -> None:
        """`out`/`index`: the body output `body` came from (poses the loose-garment volumes, when there are any)."""
        self.avatar, self.body = avatar, body
        self.baked = baked
        self.light_dir = light_dir
        self.weight_floor = avatar.cfg.deformation.weight_floor
        self.loose = avatar.loose if out is not None else None
        # the loose-garment volumes' surface points in this pose (P x 3)
        self.loose_points = self.loose.posed(out, index).to(body.vertices) if self.loose is not None else None
        # beyond this distance from every vertex w < weight_floor: the nearest-vertex search may stop there
        self.body_reach = avatar.deformation.radius(self.delta_max()) + 1e-3
        self.reach = self.body_reach if self.loose is None else max(self.body_reach, self.loose.reach)

    def __call__(self, points: torch.Tensor, dirs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """points, dirs: N x 3 (posed space) -> (sigma N, rgb N x 3)."""
        if self.baked is not None:
            return self._baked_call(points)
        deformed = self.avatar.deformation(points, self.body, None, self.reach, self.delta_floor())
        sigma = points.new_zeros(points.shape[0])
        rgb = points.new_zeros(points.shape[0], 3)
        keep = torch.nonzero(deformed.weight > self.weight_floor).squeeze(-1)  # skip far-away points
        if keep.numel() == 0:
            return sigma + deformed.weight * 0, rgb  # keeps the graph (delta) connected
        x_c = deformed.points[keep]
        s_c, albedo = self.avatar.canonical.query(x_c)
        if self.light_dir is not None:
            albedo = self.avatar.canonical.shade(x_c, albedo, self.light_dir)
        sigma = sigma.index_put((keep,), s_c * deformed.weight[keep])
        rgb = rgb.index_put((keep,), albedo)
        return sigma, rgb

    def delta_floor(self):
        """The loose garments' lower bound on delta, `(x_c, d2) -> N` (None without loose garments)."""
        if self.loose is None:
            return None
        tau = self.avatar.cfg.deformation.tau
        return lambda x_c, d2: self.loose.delta_floor(x_c, d2, tau)

    def _baked_call(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`__call__` on the baked grid: one trilinear lookup per point within reach gives delta, sigma and albedo
        together (the same values as the deformation's delta_fn + the grid's query, with half the lookups)."""
        x_c, d2, inside, _ = self.avatar.deformation.warp(points, self.body, self.reach)
        found = torch.nonzero(torch.isfinite(d2)).squeeze(-1)
        values = self.baked.lookup(x_c[found])  # F x 5: sigma, albedo, delta
        delta_found = values[:, 4].clamp(min=0)
        floor = self.delta_floor()
        if floor is not None:  # (inside points get one too: their weight is 1 whatever delta is)
            delta_found = torch.maximum(delta_found, floor(x_c[found], d2[found]))
        tau = self.avatar.deformation.cfg.tau
        weight = density_weight(d2[found], delta_found, inside[found], tau)  # the found points only
        keep = weight > self.weight_floor  # skip far-away points
        hit = found[keep]
        sigma = points.new_zeros(points.shape[0]).index_put((hit,), values[keep, 0].clamp(min=0) * weight[keep])
        rgb = points.new_zeros(points.shape[0], 3).index_put((hit,), values[keep, 1:4])
        return sigma, rgb

    def occupancy(self, cell_size: float | None = None, radius: float | None = None):
        """An OccupancyGrid of the posed body: cells within the weight's reach of a vertex (or, when the avatar has an
        extent and no `radius` is given, within each vertex's extent + margin), the inside filled; with loose
        garments, also the cells of their posed volumes (and the weight's reach around the body), cut to the cells
        within some vertex's extent + margin when there is an extent."""
        from renderers.occupancy import OccupancyGrid

        cell = cell_size or self.avatar.cfg.occupancy_cell
        extent = self.avatar.extent if radius is None else None
        version = (self.avatar._extent_version,) if extent is not None else ()
        if self.loose is not None:
            body_r = self.body_reach if radius is None else radius
            body_r = _round_up_radius(max(body_r, self.loose.volumes.around + 1e-3))
            key = ("loose", id(self.loose), round(cell, 9), round(body_r, 9), *version)
            grid = self.body.occupancy_cache.get(key)  # stage 1 poses the same body every step
            if grid is None:
                from scipy.ndimage import binary_fill_holes

                extra = self.loose_points
                aabb, _ = OccupancyGrid.box_for(torch.cat([self.body.vertices, extra]), body_r, cell)
                occ = OccupancyGrid.from_points(self.body.vertices, body_r, cell, aabb=aabb).occupied
                occ = occ | OccupancyGrid.from_points(extra, 1.5 * cell, cell, aabb=aabb).occupied
                filled = torch.from_numpy(binary_fill_holes(occ.cpu().numpy())).to(occ.device)
                if extent is not None:  # of the volumes and the reach, only what lies within a vertex's extent
                    near = OccupancyGrid.from_points(self.body.vertices, self._extent_radii(extent, self.reach), cell,
                                                     aabb=aabb, fill_holes=True)  # fmt: skip
                    filled = filled & near.occupied
                grid = self.body.occupancy_cache[key] = OccupancyGrid(filled, aabb)
            return grid
        radius = self.reach if radius is None else radius
        # radii rounded up to 5 mm: a slightly larger grid (samples beyond the reach are skipped in __call__), and
        # one grid serves every step while delta moves less than that
        radius = _round_up_radius(radius)
        key = (round(cell, 9), round(radius, 9), *version)
        if extent is not None:  # occupancy from the current density: each vertex its own radius, at most the reach
            radius = self._extent_radii(extent, radius)
        grid = self.body.occupancy_cache.get(key)
        if grid is None:
            grid = self.body.occupancy_cache[key] = OccupancyGrid.from_points(self.body.vertices, radius, cell,
                                                                              fill_holes=True)  # fmt: skip
        return grid

    def _extent_radii(self, extent: torch.Tensor, reach: float) -> torch.Tensor:
        """Each vertex's occupancy radius from the density extent (V metres): extent + margin, rounded up to 5 mm,
        at most `reach`."""
        from dreamavatar.field.extent import EXTENT_MARGIN

        per_vertex = (extent.to(self.body.vertices) + EXTENT_MARGIN) / OCCUPANCY_RADIUS_STEP
        return (per_vertex - 1e-6).ceil().clamp(max=reach / OCCUPANCY_RADIUS_STEP) * OCCUPANCY_RADIUS_STEP

    def delta_max(self) -> float:
        """Largest delta at the body's vertices (taken to canonical space)."""
        A = self.body.to_canonical
        x_c = (A[:, :, :3] @ self.body.vertices.unsqueeze(-1)).squeeze(-1) + A[:, :, 3]
        return self.avatar.max_delta(x_c)

    def aabb(self, margin: float | None = None) -> torch.Tensor:
        """A box around the posed body grown by the weight's reach (2 x 3)."""
        return self.body.aabb(self.reach if margin is None else margin)
