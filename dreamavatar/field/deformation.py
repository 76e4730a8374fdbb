"""Skeleton-tied deformation: posed (observation) space -> canonical space by the nearest posed body vertex.

For a sample point x the nearest posed vertex v (distance d) carries x to canonical space with the inverse of its
skinning transform (canonical x inverse(posed)); no mesh binding anywhere. The density weight ties the field to the
body: w = 1 inside the body, w = sigmoid(-(d^2 - delta) / tau) outside, delta = softplus(MLP(x_c)) in m^2.

Inside-ness: the sign of (x - v) . n_v with the nearest vertex's area-weighted normal (negative = inside). It is exact
wherever the nearest surface point is a vertex's neighbourhood on a smooth convex-ish patch and cheap (no extra
query); it can misjudge points in deep creases (armpits, crotch) where the nearest vertex's normal points away from
the point's side. A winding-number test would be exact but costs O(faces) per point.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from dreamavatar.body.base import BodyOutput
from renderers.raster import vertex_normals
from dreamavatar.field.mlp import frequency_encoding, mlp


KNN_BACKENDS = ("auto", "pykdtree", "kdtree", "torch")


class VertexTree:
    """Nearest-vertex queries on CPU: pykdtree when installed (3x faster than scipy's cKDTree on a frame's samples,
    the same answers; README "Speed"), else scipy's cKDTree. vertices: V x 3."""

    def __init__(self, vertices: torch.Tensor, backend: str = "auto") -> None:
        v = vertices.detach().cpu().float().numpy()
        self.n = v.shape[0]
        self.kind = "kdtree"
        if backend in ("auto", "pykdtree"):
            try:
                # its own OpenMP runtime reads this when it loads: spinning between queries would take a core from
                # torch's threads (training 0.88x instead of 1.15x per step, measured); the CLI sets it as well
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                from pykdtree.kdtree import KDTree

                self.tree, self.kind = KDTree(v, leafsize=16), "pykdtree"
            except ImportError:
                if backend == "pykdtree":
                    raise ImportError("knn 'pykdtree' needs the pykdtree package: pip install pykdtree") from None
        if self.kind == "kdtree":
            from scipy.spatial import cKDTree

            self.tree = cKDTree(v, leafsize=32)  # 32: fewer node visits per query than the default 16 (measured)

    def query(self, points: torch.Tensor, max_distance: float, workers: int = 1) -> torch.Tensor:
        """Nearest vertex of each of points N x 3 -> N long (-1 where none lies within max_distance)."""
        q = points.detach().cpu().float().numpy()
        if self.kind == "pykdtree":  # threads: OpenMP's (OMP_NUM_THREADS)
            _, idx = self.tree.query(q, k=1, distance_upper_bound=max_distance)
            idx = torch.from_numpy(idx.astype("int64"))
        else:
            _, idx = self.tree.query(q, k=1, distance_upper_bound=max_distance, workers=workers)
            idx = torch.from_numpy(idx)
        idx = idx.to(device=points.device, dtype=torch.long)
        return torch.where(idx >= self.n, -1, idx)


@dataclass
class DeformationConfig:
    tau: float = field(default=0.001, metadata={"gt": 0})  # m^2, the weight's falloff
    # "auto" (pykdtree, else scipy's cKDTree, on CPU; torch on GPU) | "pykdtree" | "kdtree" (scipy) | "torch" (chunked)
    knn: str = field(default="auto", metadata={"choices": KNN_BACKENDS})
    knn_workers: int = 1  # cKDTree query threads (-1: all cores; on a busy 2-core machine 1 is faster)
    delta_freqs: int = field(default=4, metadata={"min": 0})  # frequency encoding of the canonical point (delta MLP)
    delta_hidden: int = field(default=32, metadata={"min": 1})
    delta_layers: int = field(default=3, metadata={"min": 1})
    delta_init: float = 1e-5  # m^2: delta at initialisation (near 0, so w starts at about 0.5 on the skin)
    weight_floor: float = 1e-3  # weights below this count as empty: where samplers may skip (occupancy radius)


def affine_inverse(M: torch.Tensor) -> torch.Tensor:
    """Inverses of affine maps M: V x 4 x 4 (or V x 3 x 4) -> V x 3 x 4, in closed form (adjugate; much faster than
    a batched general inverse). Blended skinning transforms are affine but not rigid, so no transpose shortcut."""
    A, t = M[:, :3, :3].double(), M[:, :3, 3].double()
    c0, c1, c2 = A[:, :, 0], A[:, :, 1], A[:, :, 2]
    rows = torch.stack([torch.linalg.cross(c1, c2), torch.linalg.cross(c2, c0), torch.linalg.cross(c0, c1)], 1)
    det = (c0 * rows[:, 0]).sum(-1)
    inv = rows / det[:, None, None]
    return torch.cat([inv, -(inv @ t.unsqueeze(-1))], -1).float()


def density_weight(d2: torch.Tensor, delta: torch.Tensor, inside: torch.Tensor, tau: float) -> torch.Tensor:
    """w = 1 inside, sigmoid(-(d^2 - delta) / tau) outside. All N (d2, delta in m^2)."""
    w = torch.sigmoid(-(d2 - delta) / tau)
    return torch.where(inside, torch.ones_like(w), w)


@dataclass
class PosedBody:
    """One posed body, prepared for deformation queries.

    vertices: V x 3 posed; normals: V x 3; to_canonical: V x 3 x 4 (inverse of each vertex transform, top rows);
    faces: F x 3; tree: a `VertexTree` over the vertices (CPU) or None (torch search).
    """

    vertices: torch.Tensor
    normals: torch.Tensor
    to_canonical: torch.Tensor
    faces: torch.Tensor
    tree: object | None = None
    workers: int = 1  # cKDTree query threads
    _near_grid: tuple | None = None  # cache of `may_be_near`: (max_distance, grid, corner, cell)
    occupancy_cache: dict = field(default_factory=dict)  # occupancy grids of this pose by (cell, radius)

    @classmethod
    def from_output(cls, out: BodyOutput, index: int = 0, knn: str = "auto", workers: int = 1) -> "PosedBody":
        """Pose `index` of a body output. knn: one of KNN_BACKENDS; workers: cKDTree query threads."""
        v = out.vertices[index].detach().float()
        faces = out.faces.long().to(v.device)
        inv = affine_inverse(out.vertex_transforms[index].detach())  # V x 3 x 4
        if knn not in KNN_BACKENDS:
            raise ValueError(f"knn {knn!r}: use one of {', '.join(KNN_BACKENDS)}")
        tree = None
        if knn in ("kdtree", "pykdtree") or (knn == "auto" and v.device.type == "cpu"):
            tree = VertexTree(v, knn)
        return cls(v, vertex_normals(v[None], faces)[0], inv, faces, tree, workers)

    def nearest(self, points: torch.Tensor, max_distance: float = math.inf, chunk: int = 4096) -> torch.Tensor:
        """Index of the nearest vertex of each of points N x 3 -> N long; -1 where no vertex lies within
        `max_distance` (the KD-tree then stops early: far points cost little)."""
        p = points.detach()
        if self.tree is not None:
            # scipy's tree gains from dropping far points first; pykdtree's bounded search is faster without it
            if not (math.isfinite(max_distance) and self.tree.kind == "kdtree"):
                return self.tree.query(p, max_distance, self.workers)
            cand = torch.nonzero(self.may_be_near(p, max_distance)).squeeze(-1)
            out = torch.full((p.shape[0],), -1, dtype=torch.long, device=p.device)
            return out.index_put((cand,), self.tree.query(p[cand], max_distance, self.workers))
        v = self.vertices.to(p)
        vv = (v * v).sum(-1)
        out = []
        for i in range(0, p.shape[0], chunk):  # |p - v|^2 = |p|^2 - 2 p.v + |v|^2; |p|^2 does not change the argmin
            pc = p[i : i + chunk]
            d2, idx = (vv[None] - 2 * pc @ v.T).min(-1)
            far = d2 + (pc * pc).sum(-1) > max_distance**2
            out.append(torch.where(far, -1, idx))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=p.device)

    def may_be_near(self, points: torch.Tensor, max_distance: float) -> torch.Tensor:
        """A cheap conservative test: False only for points N x 3 certainly farther than `max_distance` from every
        vertex (a coarse grid of cells max_distance / 2 wide, marked around the vertices). -> N bool."""
        key = round(max_distance, 6)
        if self._near_grid is None or self._near_grid[0] != key:
            cell = max_distance / 2
            lo = self.vertices.min(0).values - 3 * cell
            dims = ((self.vertices.max(0).values + 3 * cell - lo) / cell).ceil().long()
            grid = torch.zeros(*dims.tolist(), device=self.vertices.device)
            c = ((self.vertices - lo) / cell).long()
            grid[c[:, 0], c[:, 1], c[:, 2]] = 1
            # a point within max_distance = 2 cells of a vertex is at most 2 cells away in each axis
            grid = torch.nn.functional.max_pool3d(grid[None, None], 5, stride=1, padding=2)[0, 0] > 0
            self._near_grid = (key, grid, lo, cell)
        _, grid, lo, cell = self._near_grid
        c = ((points - lo.to(points)) / cell).floor().long()
        dims = torch.tensor(grid.shape, device=points.device)
        ok = ((c >= 0) & (c < dims)).all(-1)
        c = torch.where(ok[:, None], c, torch.zeros_like(c))
        return ok & grid.to(points.device)[c[:, 0], c[:, 1], c[:, 2]]

    def aabb(self, margin: float = 0.0) -> torch.Tensor:
        """Box around the posed vertices, 2 x 3 (min, max), grown by `margin`."""
        return torch.stack([self.vertices.min(0).values - margin, self.vertices.max(0).values + margin])


@dataclass
class Deformed:
    """Result of a deformation query for N points: canonical points, squared distance to the nearest posed vertex,
    inside flag, nearest vertex index, delta (m^2) and the density weight."""

    points: torch.Tensor  # N x 3 canonical
    d2: torch.Tensor  # N
    inside: torch.Tensor  # N bool
    index: torch.Tensor  # N long
    delta: torch.Tensor  # N
    weight: torch.Tensor  # N


class Deformation(nn.Module):
    """Observation -> canonical warp and density weight; owns the delta MLP (the only trainable part)."""

    Config = DeformationConfig

    def __init__(self, cfg: DeformationConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DeformationConfig()
        self.delta_net = mlp(3 * (1 + 2 * cfg.delta_freqs), 1, cfg.delta_hidden, cfg.delta_layers)
        last = self.delta_net[-1]
        nn.init.normal_(last.weight, std=1e-4)  # near-constant start
        nn.init.constant_(last.bias, math.log(math.expm1(cfg.delta_init)))  # softplus(bias) = delta_init

    def delta(self, x_c: torch.Tensor) -> torch.Tensor:
        """delta = softplus(MLP(x_c)) in m^2 >= 0. x_c: N x 3 -> N."""
        return nn.functional.softplus(self.delta_net(frequency_encoding(x_c, self.cfg.delta_freqs))[:, 0])

    def warp(
        self, points: torch.Tensor, body: PosedBody, max_distance: float = math.inf
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """points N x 3 (posed) -> (canonical points N x 3, d^2 N, inside N bool, nearest index N).

        Points farther than `max_distance` from every vertex (where w is negligible anyway) get d^2 = inf, index -1
        and stay where they are.
        """
        idx = body.nearest(points, max_distance)
        found = idx >= 0
        idx = idx.clamp(min=0)
        v = body.vertices.to(points)[idx]
        off = points - v
        d2 = torch.where(found, (off * off).sum(-1), torch.full_like(off[:, 0], math.inf))
        inside = found & ((off * body.normals.to(points)[idx]).sum(-1) < 0)
        A = body.to_canonical.to(points)[idx]  # N x 3 x 4
        x_c = (A[:, :, :3] * points[:, None, :]).sum(-1) + A[:, :, 3]  # elementwise: faster than N tiny matmuls
        return torch.where(found[:, None], x_c, points), d2, inside, idx

    def forward(
        self,
        points: torch.Tensor,
        body: PosedBody,
        delta_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        max_distance: float = math.inf,
        delta_floor: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> Deformed:
        """points N x 3 (posed) -> Deformed. `delta_fn` replaces the delta MLP (e.g. a baked grid's lookup);
        `max_distance`: see `warp` (use `radius(delta_max)`, beyond which w < weight_floor); `delta_floor(x_c, d2)`:
        a lower bound on delta (room for loose garments, `dreamavatar.field.loose`)."""
        x_c, d2, inside, idx = self.warp(points, body, max_distance)
        # delta only matters outside the body and within reach: evaluate it there alone
        need = torch.nonzero(torch.isfinite(d2) & ~inside).squeeze(-1)
        delta = torch.zeros_like(d2)
        if need.numel():
            dn = (delta_fn or self.delta)(x_c[need])
            if delta_floor is not None:
                dn = torch.maximum(dn, delta_floor(x_c[need].detach(), d2[need]))
            delta = delta.index_put((need,), dn)
        return Deformed(x_c, d2, inside, idx, delta, density_weight(d2, delta, inside, self.cfg.tau))

    def radius(self, delta_max: float = 0.0) -> float:
        """Distance (m) beyond which w < weight_floor for deltas up to `delta_max`: the occupancy dilation."""
        return math.sqrt(max(delta_max, 0.0) + self.cfg.tau * math.log(1.0 / self.cfg.weight_floor - 1.0))
