"""Volume rendering: compositing of samples along rays, and rendering a field for rays or cameras.

The field interface (what the avatar field implements):

    field(points N x 3, dirs N x 3) -> (sigma N >= 0, rgb N x 3 in [0, 1])

in the field's own frame, with dirs unit vectors and sigma a density per unit length of that frame.

Compositing: alpha_i = 1 - exp(-sigma_i * delta_i), transmittance T_i = exp(-sum_{j<i} sigma_j delta_j) (exclusive),
weight_i = T_i * alpha_i. Results per ray:
    rgb      sum_i w_i c_i (+ (1 - opacity) * background when a background is given)
    opacity  1 - T_final = sum_i w_i, never above 1
    depth    expected depth normalised by opacity: sum_i w_i t_i / opacity (t_i the interval midpoint), 0 where
             nothing is hit; a distance along the ray since dirs are unit vectors
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import torch

from renderers.cameras import Cameras
from renderers.errors import RenderError
from renderers.rays import near_far, pixel_rays
from renderers.samplers import Field, Sampler, Samples

Background = Union[None, float, tuple, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


@dataclass
class RenderConfig:
    """Settings shared by `render_rays` / `render_image` callers."""

    near: float = 0.05
    far: float = 100.0
    chunk: int = 8192  # rays per chunk in render_image
    backend: str = "torch"  # torch | nerfacc | auto (nerfacc only with CUDA; see renderers.accel)
    early_stop: float = 0.0  # skip samples behind transmittance below this (0: evaluate all)


def _weights(tau: torch.Tensor, excl: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """T_i * alpha_i from each sample's optical thickness and the thickness before it (float64 in, `dtype` out)."""
    return (torch.exp(-excl) * -torch.expm1(-tau)).to(dtype)


def composite(
    sigma: torch.Tensor,
    rgb: torch.Tensor,
    t_starts: torch.Tensor,
    t_ends: torch.Tensor,
    ray_indices: torch.Tensor,
    n_rays: int,
) -> dict[str, torch.Tensor]:
    """Composite packed samples (ray-major, sorted by t within each ray).

    sigma: N; rgb: N x 3; t_starts, t_ends: N; ray_indices: N long. Returns rgb n_rays x 3, opacity n_rays,
    depth n_rays, weights N, transmittance N (before each sample).
    """
    sigma = sigma.reshape(-1)
    tau = (sigma * (t_ends - t_starts)).double()
    n = tau.shape[0]
    # exclusive per-ray cumulative sum: a global cumsum (float64 keeps long sums exact enough) minus each ray's start
    excl_all = torch.cumsum(tau, 0) - tau
    counts = torch.bincount(ray_indices, minlength=n_rays)
    first = torch.cumsum(counts, 0) - counts  # index of each ray's first sample
    excl = excl_all - excl_all[first[ray_indices]] if n else excl_all
    weights = _weights(tau, excl, sigma.dtype)
    total = torch.zeros(n_rays, dtype=tau.dtype, device=tau.device).index_add(0, ray_indices, tau)
    opacity = (-torch.expm1(-total)).to(sigma.dtype)
    out_rgb = torch.zeros(n_rays, 3, dtype=rgb.dtype, device=rgb.device)
    out_rgb = out_rgb.index_add(0, ray_indices, weights[:, None] * rgb)
    t_mid = 0.5 * (t_starts + t_ends)
    depth = torch.zeros(n_rays, dtype=sigma.dtype, device=sigma.device).index_add(0, ray_indices, weights * t_mid)
    return {
        "rgb": out_rgb,
        "opacity": opacity,
        "depth": depth / opacity.clamp(min=1e-10),
        "weights": weights,
        "transmittance": torch.exp(-excl).to(sigma.dtype),
    }


def composite_dense(
    sigma: torch.Tensor, rgb: torch.Tensor, t_starts: torch.Tensor, t_ends: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Composite R rays of S samples each (sorted by t). sigma: R x S; rgb: R x S x 3; t_starts, t_ends: R x S.

    Returns rgb R x 3, opacity R, depth R, weights R x S, transmittance R x S.
    """
    sigma = sigma.reshape(t_starts.shape)
    tau = (sigma * (t_ends - t_starts)).double()
    excl = torch.cumsum(tau, -1) - tau
    weights = _weights(tau, excl, sigma.dtype)
    opacity = (-torch.expm1(-tau.sum(-1))).to(sigma.dtype)
    depth = (weights * 0.5 * (t_starts + t_ends)).sum(-1)
    return {
        "rgb": (weights[..., None] * rgb).sum(-2),
        "opacity": opacity,
        "depth": depth / opacity.clamp(min=1e-10),
        "weights": weights,
        "transmittance": torch.exp(-excl).to(sigma.dtype),
    }


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
    round_size: int = 32,
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
    delta = samples.t_ends - samples.t_starts
    tau = torch.zeros(R, dtype=torch.float64, device=ids.device)
    max_tau = -torch.log(torch.tensor(min_transmittance, dtype=torch.float64))
    picked, sigmas, rgbs = [], [], []
    for r0 in range(0, int(counts.max()), round_size):
        sel = torch.nonzero((rank >= r0) & (rank < r0 + round_size) & (tau < max_tau)[ids]).squeeze(-1)
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


def background_rgb(background: Background, dirs: torch.Tensor) -> torch.Tensor | None:
    """Background colours R x 3 for rays dirs R x 3: a constant colour or a callable of the direction."""
    if background is None:
        return None
    if callable(background):
        return background(dirs)
    bg = torch.as_tensor(background, dtype=dirs.dtype, device=dirs.device)
    if bg.numel() not in (1, 3):
        raise RenderError(f"background has {bg.numel()} values: give one grey value, an RGB triple or a callable")
    return bg.reshape(-1).expand(3).expand(dirs.shape[0], 3)


def blend_background(out: dict, background: Background, dirs: torch.Tensor) -> dict:
    """rgb + (1 - opacity) * bg, in place on `out`."""
    bg = background_rgb(background, dirs)
    if bg is not None:
        out["rgb"] = out["rgb"] + (1 - out["opacity"])[:, None] * bg
    return out


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
