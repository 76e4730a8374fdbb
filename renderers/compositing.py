"""Compositing samples along rays into pixels, and blending the background behind them.

alpha_i = 1 - exp(-sigma_i * delta_i), transmittance T_i = exp(-sum_{j<i} sigma_j delta_j) (exclusive),
weight_i = T_i * alpha_i. Results per ray:
    rgb      sum_i w_i c_i (+ (1 - opacity) * background when a background is given)
    opacity  1 - T_final = sum_i w_i, never above 1
    depth    expected depth normalised by opacity: sum_i w_i t_i / opacity (t_i the interval midpoint), 0 where
             nothing is hit; a distance along the ray since dirs are unit vectors

Samplers (an importance sampler's coarse pass), `renderers.volume` and `renderers.scene` all build on these.
"""

from __future__ import annotations

from typing import Callable, Union

import torch

from renderers.errors import RenderError

Background = Union[None, float, tuple, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


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
