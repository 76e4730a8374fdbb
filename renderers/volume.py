"""Volume rendering: a field through a sampler, for rays or cameras (compositing itself: `renderers.compositing`).

The field interface (what the avatar field implements):

    field(points N x 3, dirs N x 3) -> (sigma N >= 0, rgb N x 3 in [0, 1])

in the field's own frame, with dirs unit vectors and sigma a density per unit length of that frame.
"""

from __future__ import annotations

import math

import torch

from renderers.cameras import Cameras
from renderers.compositing import Background, background_rgb, blend_background, composite, composite_dense
from renderers.errors import RenderError
from renderers.rays import near_far, pixel_rays
from renderers.samplers import Field, Sampler, Samples

__all__ = [
    "Background", "background_rgb", "blend_background", "composite", "composite_dense", "composite_samples",
    "evaluate", "evaluate_early_stop", "render_rays", "render_image", "render_camera_chunks",
]  # fmt: skip


def composite_samples(samples: Samples, sigma: torch.Tensor, rgb: torch.Tensor, backend: str = "torch") -> dict:
    """Composite a sampler's output (dense layout when it has one). Returns per-ray rgb, opacity, depth and the
    packed weights N."""
    R = samples.n_rays
    if backend == "nerfacc":
        from renderers.accel import composite_nerfacc

        return composite_nerfacc(sigma, rgb, samples.t_starts, samples.t_ends, samples.ray_indices, R)
    S = samples.per_ray
    if S is None or len(samples) == 0:
        return composite(sigma, rgb, samples.t_starts, samples.t_ends, samples.ray_indices, R)
    ids = samples.ray_indices[::S]
    out = composite_dense(
        sigma.reshape(-1, S), rgb.reshape(-1, S, 3), samples.t_starts.reshape(-1, S), samples.t_ends.reshape(-1, S)
    )
    res = {"weights": out["weights"].reshape(-1), "transmittance": out["transmittance"].reshape(-1)}
    for key, val in (("rgb", out["rgb"]), ("opacity", out["opacity"]), ("depth", out["depth"])):
        full = torch.zeros((R,) + val.shape[1:], dtype=val.dtype, device=val.device)
        res[key] = full.index_copy(0, ids, val)
    return res


def evaluate(field: Field, samples: Samples, origins: torch.Tensor, dirs: torch.Tensor):
    """Run the field on the sample midpoints. Returns (sigma N, rgb N x 3); no call when there are no samples."""
    if len(samples) == 0:
        z = origins.new_zeros(0)
        return z, origins.new_zeros(0, 3)
    pts, d = samples.points(origins, dirs)
    sigma, rgb = field(pts, d)
    return sigma.reshape(-1), rgb.reshape(-1, 3)


def evaluate_early_stop(
    field: Field,
    samples: Samples,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    min_transmittance: float = 1e-4,
    round_size: int = 16,
) -> tuple[Samples, torch.Tensor, torch.Tensor]:
    """Run the field front to back, `round_size` samples per ray at a time, and stop a ray once its transmittance
    falls below `min_transmittance` (what lies behind changes its colour by less than that).

    Returns (the evaluated samples, their sigma N', rgb N' x 3): composite those; the rest would weigh < threshold.
    """
    n = len(samples)
    if n == 0:
        return samples, *evaluate(field, samples, origins, dirs)
    R, ids = samples.n_rays, samples.ray_indices
    counts = torch.bincount(ids, minlength=R)
    rank = torch.arange(n, device=ids.device) - (torch.cumsum(counts, 0) - counts)[ids]  # sample's place in its ray
    # samples ordered by rank once: round r is one contiguous slice (no pass over all samples per round)
    by_rank = torch.argsort(rank, stable=True)
    bounds = torch.searchsorted(rank[by_rank], torch.arange(0, int(counts.max()) + round_size, round_size,
                                                            device=ids.device)).tolist()  # fmt: skip
    delta = samples.t_ends - samples.t_starts
    tau = torch.zeros(R, dtype=torch.float64, device=ids.device)
    max_tau = -math.log(min_transmittance)
    picked, sigmas, rgbs = [], [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        sel = by_rank[lo:hi]
        sel = sel[tau[ids[sel]] < max_tau]
        if len(sel) == 0:
            break
        sub = Samples(ids[sel], samples.t_starts[sel], samples.t_ends[sel], R)
        sigma, rgb = evaluate(field, sub, origins, dirs)
        tau.index_add_(0, ids[sel], (sigma.detach() * delta[sel]).double())
        picked.append(sel)
        sigmas.append(sigma)
        rgbs.append(rgb)
    sel = torch.cat(picked)
    order = torch.argsort(sel)  # back to ray-major order
    sel = sel[order]
    kept = Samples(ids[sel], samples.t_starts[sel], samples.t_ends[sel], R, extra_evaluations=samples.extra_evaluations)
    return kept, torch.cat(sigmas)[order], torch.cat(rgbs)[order]


def render_rays(
    origins: torch.Tensor,
    dirs: torch.Tensor,
    field: Field,
    sampler: Sampler,
    near: float = 0.0,
    far: float = float("inf"),
    aabb: torch.Tensor | None = None,
    background: Background = None,
    perturb: bool = False,
    backend: str = "torch",
    early_stop: float = 0.0,
) -> dict:
    """Render R rays (origins, unit dirs: R x 3) through `field`, sampling in [near, far] clipped to `aabb` (2 x 3).

    early_stop > 0: evaluate front to back and skip samples behind a transmittance below `early_stop` (e.g. 1e-4;
    see `evaluate_early_stop`), for opaque fields with many samples per ray.
    Returns dict(rgb R x 3, opacity R, depth R, weights N, num_samples int (field evaluations, any coarse pass
    included), samples Samples (those composited)).
    """
    if aabb is None and not torch.isfinite(torch.tensor(far)):
        raise RenderError("render_rays got neither a finite far nor an aabb: give far=... or aabb=... to bound rays")
    if backend != "torch":
        from renderers.accel import resolve_backend

        backend = resolve_backend(backend)
    t_near, t_far = near_far(origins, dirs, near, far, aabb)
    samples = sampler(origins, dirs, t_near, t_far, field=field, perturb=perturb)
    if early_stop > 0:
        samples, sigma, rgb = evaluate_early_stop(field, samples, origins, dirs, early_stop)
    else:
        sigma, rgb = evaluate(field, samples, origins, dirs)
    out = composite_samples(samples, sigma, rgb, backend)
    out["num_samples"] = len(samples) + samples.extra_evaluations
    out["samples"] = samples
    return blend_background(out, background, dirs)


def render_image(
    cams: Cameras,
    field: Field,
    sampler: Sampler,
    near: float = 0.0,
    far: float = float("inf"),
    aabb: torch.Tensor | None = None,
    background: Background = None,
    perturb: bool = False,
    chunk: int = 8192,
    backend: str = "torch",
    early_stop: float = 0.0,
) -> dict:
    """Render B camera images, `chunk` rays at a time (other arguments as in `render_rays`).

    Returns dict(rgb B x H x W x 3, opacity B x H x W, depth B x H x W, num_samples int).
    """
    return render_camera_chunks(
        cams,
        chunk,
        lambda o, d: render_rays(o, d, field, sampler, near, far, aabb, background, perturb, backend, early_stop),
    )


def render_camera_chunks(cams: Cameras, chunk: int, render_fn) -> dict:
    """Call render_fn(origins, dirs) on chunks of the cameras' pixel rays and reassemble the per-ray outputs into
    B x H x W (x ...) images."""
    origins, dirs = pixel_rays(cams)
    shape = origins.shape[:-1]
    origins, dirs = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    parts: dict[str, list] = {}
    num = 0
    for i in range(0, origins.shape[0], chunk):
        out = render_fn(origins[i : i + chunk], dirs[i : i + chunk])
        num += out["num_samples"]
        n = out["opacity"].shape[0]
        for key, val in out.items():
            per_ray = torch.is_tensor(val) and val.dim() >= 1 and val.shape[0] == n
            if per_ray and key not in ("weights", "transmittance"):  # per-sample outputs are not reassembled
                parts.setdefault(key, []).append(val)
    res = {k: torch.cat(v).reshape(*shape, *v[0].shape[1:]) for k, v in parts.items()}
    res["num_samples"] = num
    return res
