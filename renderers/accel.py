"""Optional nerfacc backend for packed compositing (CUDA only; the torch code in `renderers.volume` is the reference).

nerfacc compiles CUDA code at first use and its build fails without CUDA_HOME, leaving a broken cache folder: import
it only when CUDA is available, and only here.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings

import torch

from renderers.errors import RenderError

log = logging.getLogger(__name__)
BACKENDS = ("torch", "nerfacc", "auto")


def nerfacc_available() -> bool:
    """True where CUDA is available and nerfacc is installed (checked without importing it)."""
    return torch.cuda.is_available() and importlib.util.find_spec("nerfacc") is not None


def resolve_backend(name: str) -> str:
    """torch | nerfacc | auto -> the backend to use: `auto` picks nerfacc when available; `nerfacc` asked for and
    missing warns and falls back to torch."""
    if name not in BACKENDS:
        raise RenderError(f"unknown render backend {name!r}: use one of {', '.join(BACKENDS)}")
    if name == "torch":
        return name
    if nerfacc_available():
        return "nerfacc"
    if name == "nerfacc":
        msg = "render backend nerfacc asked for but unavailable (needs CUDA and `pip install nerfacc`): using torch"
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        log.warning(msg)
    return "torch"


def composite_nerfacc(
    sigma: torch.Tensor,
    rgb: torch.Tensor,
    t_starts: torch.Tensor,
    t_ends: torch.Tensor,
    ray_indices: torch.Tensor,
    n_rays: int,
) -> dict[str, torch.Tensor]:
    """`compositing.composite` through nerfacc's packed CUDA kernels (same inputs and outputs, CUDA tensors)."""
    import nerfacc

    sigma = sigma.reshape(-1)
    weights, trans, _ = nerfacc.render_weight_from_density(
        t_starts, t_ends, sigma, ray_indices=ray_indices, n_rays=n_rays
    )
    def acc(values):
        return nerfacc.accumulate_along_rays(weights, values=values, ray_indices=ray_indices, n_rays=n_rays)

    opacity = acc(None).reshape(-1).clamp(max=1.0)
    depth = acc((0.5 * (t_starts + t_ends))[:, None]).reshape(-1)
    return {
        "rgb": acc(rgb),
        "opacity": opacity,
        "depth": depth / opacity.clamp(min=1e-10),
        "weights": weights,
        "transmittance": trans,
    }
