"""Where to put samples along rays: stratified uniform, importance (hierarchical) and body-guided (occupancy grid).

Every sampler is a callable `sampler(origins R x 3, dirs R x 3, t_near R, t_far R, field=None, perturb=False) ->
Samples` working in the frame of the rays it is given (dirs unit, so t is a distance). A sample is an interval
[t_start, t_end] of a ray; the field is evaluated at its midpoint. Samples are packed (a variable count per ray),
ray-major and sorted by t within each ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import torch

from renderers.compositing import composite_dense
from renderers.errors import RenderError

Field = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Samples:
    """Packed samples of `n_rays` rays (N samples in all).

    ray_indices: N long, non-decreasing (ray-major)
    t_starts, t_ends: N, sorted within each ray
    per_ray: when every ray that has samples has exactly this many (then they sit in contiguous blocks and a dense
             R' x per_ray layout applies); None for a variable count
    extra_evaluations: field evaluations the sampler itself spent (e.g. an importance sampler's coarse pass)
    """

    ray_indices: torch.Tensor
    t_starts: torch.Tensor
    t_ends: torch.Tensor
    n_rays: int
    per_ray: Optional[int] = None
    extra_evaluations: int = 0

    def __len__(self) -> int:
        return self.t_starts.shape[0]

    @property
    def t_mids(self) -> torch.Tensor:  # N
        return 0.5 * (self.t_starts + self.t_ends)

    def points(self, origins: torch.Tensor, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample positions and their ray directions, N x 3 each (origins, dirs: R x 3)."""
        o, d = origins[self.ray_indices], dirs[self.ray_indices]
        return o + self.t_mids[:, None] * d, d


class Sampler(Protocol):
    def __call__(
        self,
        origins: torch.Tensor,
        dirs: torch.Tensor,
        t_near: torch.Tensor,
        t_far: torch.Tensor,
        field: Field | None = None,
        perturb: bool = False,
    ) -> Samples: ...


def _dense_samples(hit_ids: torch.Tensor, edges: torch.Tensor, n_rays: int) -> Samples:
    """Samples from per-ray interval edges. hit_ids: R' long; edges: R' x (S + 1) sorted."""
    S = edges.shape[1] - 1
    return Samples(
        ray_indices=hit_ids.repeat_interleave(S),
        t_starts=edges[:, :-1].reshape(-1),
        t_ends=edges[:, 1:].reshape(-1),
        n_rays=n_rays,
        per_ray=S,
    )


class StratifiedSampler:
    """S samples per ray splitting [t_near, t_far]: equal bins in eval; with `perturb`, each inner bin edge moves
    uniformly within half a bin of its place (so samples stay sorted, inside the range and cover it without gaps).
    Rays with an empty range get no samples."""

    @dataclass
    class Config:
        num_samples: int = 128

    def __init__(self, cfg: Optional["StratifiedSampler.Config"] = None, **kwargs):
        self.cfg = cfg or StratifiedSampler.Config(**kwargs)
        if self.cfg.num_samples < 1:
            raise RenderError(f"num_samples is {self.cfg.num_samples}: give at least 1 sample per ray")

    def edges(self, t_near: torch.Tensor, t_far: torch.Tensor, perturb: bool = False) -> torch.Tensor:
        """Interval edges R x (S + 1) between t_near and t_far (both R)."""
        S = self.cfg.num_samples
        u = torch.arange(S + 1, dtype=t_near.dtype, device=t_near.device).expand(t_near.shape[0], S + 1) / S
        if perturb and S > 1:
            jitter = (torch.rand(t_near.shape[0], S - 1, dtype=t_near.dtype, device=t_near.device) - 0.5) / S
            u = torch.cat([u[:, :1], u[:, 1:-1] + jitter, u[:, -1:]], 1)
        return t_near[:, None] + (t_far - t_near)[:, None] * u

    def __call__(self, origins, dirs, t_near, t_far, field=None, perturb=False) -> Samples:
        hit_ids = torch.nonzero(t_far > t_near).squeeze(-1)
        return _dense_samples(hit_ids, self.edges(t_near[hit_ids], t_far[hit_ids], perturb), origins.shape[0])


def sample_pdf(edges: torch.Tensor, weights: torch.Tensor, n: int, perturb: bool = False) -> torch.Tensor:
    """Inverse-CDF sampling of n points per ray from a piecewise-constant pdf.

    edges: R x (S + 1) bin edges; weights: R x S non-negative bin weights. Returns R x n sorted positions.
    """
    pdf = weights + 1e-5  # a floor keeps empty rays (all weights zero) sampling uniformly
    pdf = pdf / pdf.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1).clamp(max=1.0)  # R x (S + 1)
    R = edges.shape[0]
    if perturb:
        jitter = torch.rand(R, n, dtype=edges.dtype, device=edges.device)
        u = (torch.arange(n, dtype=edges.dtype, device=edges.device) + jitter) / n
    else:
        u = ((torch.arange(n, dtype=edges.dtype, device=edges.device) + 0.5) / n).expand(R, n)
    u = u.contiguous()
    S = weights.shape[1]
    idx = torch.searchsorted(cdf.contiguous(), u, right=True)
    lo, hi = (idx - 1).clamp(0, S), idx.clamp(0, S)
    c_lo, c_hi = cdf.gather(1, lo), cdf.gather(1, hi)
    e_lo, e_hi = edges.gather(1, lo), edges.gather(1, hi)
    denom = torch.where(c_hi - c_lo < 1e-8, torch.ones_like(c_hi), c_hi - c_lo)
    return e_lo + (u - c_lo) / denom * (e_hi - e_lo)


class ImportanceSampler:
    """Hierarchical sampling: a stratified coarse pass through the field (no gradient), then `num_fine` more samples
    drawn from its weights by inverse CDF. The returned intervals split the ray at the coarse and fine positions
    together (num_coarse + num_fine intervals per ray)."""

    @dataclass
    class Config:
        num_coarse: int = 64
        num_fine: int = 64

    def __init__(self, cfg: Optional["ImportanceSampler.Config"] = None, **kwargs):
        self.cfg = cfg or ImportanceSampler.Config(**kwargs)
        self.coarse = StratifiedSampler(num_samples=self.cfg.num_coarse)

    def __call__(self, origins, dirs, t_near, t_far, field=None, perturb=False) -> Samples:
        if field is None:
            raise RenderError("ImportanceSampler needs the field for its coarse pass: pass field=... to the sampler")
        hit_ids = torch.nonzero(t_far > t_near).squeeze(-1)
        edges = self.coarse.edges(t_near[hit_ids], t_far[hit_ids], perturb)  # R' x (Sc + 1)
        coarse = _dense_samples(hit_ids, edges, origins.shape[0])
        with torch.no_grad():
            pts, d = coarse.points(origins, dirs)
            Rh, Sc = edges.shape[0], self.cfg.num_coarse
            if len(coarse):
                sigma, rgb = field(pts, d)
                out = composite_dense(
                    sigma.reshape(Rh, Sc), rgb.reshape(Rh, Sc, 3), edges[:, :-1], edges[:, 1:]
                )
                weights = out["weights"]
            else:
                weights = edges[:, 1:] * 0
            fine = sample_pdf(edges, weights, self.cfg.num_fine, perturb)
        merged = torch.sort(torch.cat([edges, fine.detach()], -1), -1).values
        samples = _dense_samples(hit_ids, merged, origins.shape[0])
        samples.extra_evaluations = len(coarse)
        return samples


class OccupancySampler:
    """Body-guided sampling: march steps of `step` along each ray and keep only samples whose midpoint lies in an
    occupied cell of an `OccupancyGrid`, so the field is evaluated only near the body. With `perturb`, the whole
    march shifts by a random fraction of a step per ray. Variable count per ray (packed)."""

    @dataclass
    class Config:
        step: float = 0.005  # world units (metres) between samples

    def __init__(self, grid, cfg: Optional["OccupancySampler.Config"] = None, chunk: int = 1 << 22, **kwargs):
        self.grid = grid
        self.cfg = cfg or OccupancySampler.Config(**kwargs)
        self.chunk = chunk  # rays x steps marched at once (bounds memory)
        if self.cfg.step <= 0:
            raise RenderError(f"step is {self.cfg.step}: give a positive step length")

    def __call__(self, origins, dirs, t_near, t_far, field=None, perturb=False) -> Samples:
        from renderers.rays import ray_aabb

        step = self.cfg.step
        t_enter, t_exit = ray_aabb(origins, dirs, self.grid.aabb)
        t0, t1 = torch.maximum(t_near, t_enter), torch.minimum(t_far, t_exit)
        hit_ids = torch.nonzero(t1 > t0).squeeze(-1)
        ids, starts, ends = [], [], []
        if len(hit_ids):
            # the march keeps to each ray's lattice (j + shift) step from its origin, wherever the grid's box starts:
            # grids of different extents place the same samples
            lattice = torch.floor(t0 / step) * step
            n_steps = math.ceil(float((t1[hit_ids] - lattice[hit_ids]).max()) / step) + 2
            rays_per_chunk = max(1, self.chunk // n_steps)
            for i in range(0, len(hit_ids), rays_per_chunk):
                r = hit_ids[i : i + rays_per_chunk]
                s, e, keep = self._march(origins[r], dirs[r], t0[r], t1[r], n_steps, perturb, lattice[r])
                rows, cols = torch.nonzero(keep, as_tuple=True)
                ids.append(r[rows])
                starts.append(s[rows, cols])
                ends.append(e[rows, cols])
        if not ids:
            empty = torch.zeros(0, dtype=origins.dtype, device=origins.device)
            return Samples(empty.long(), empty, empty.clone(), origins.shape[0])
        return Samples(torch.cat(ids), torch.cat(starts), torch.cat(ends), origins.shape[0])

    def _march(self, o, d, t0, t1, n_steps, perturb, lattice):
        """Intervals R x n_steps of the lattice (R, at or before t0) clipped to [t0, t1], and which ones to keep
        (non-empty and occupied)."""
        step = self.cfg.step
        shift = torch.rand_like(t0) if perturb else torch.ones_like(t0)  # in (0, 1]: the lattice's offset
        k = torch.arange(n_steps, dtype=o.dtype, device=o.device)
        raw = lattice[:, None] + (k[None] - 1 + shift[:, None]) * step
        s = torch.maximum(raw, t0[:, None])
        e = torch.minimum(raw + step, t1[:, None])
        mid = 0.5 * (s + e)
        occ = self.grid.query((o[:, None] + mid[..., None] * d[:, None]).reshape(-1, 3)).reshape(mid.shape)
        return s, e, occ & (e > s)
