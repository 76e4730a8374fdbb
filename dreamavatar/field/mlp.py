"""Small MLPs, the truncated exponential density activation and a frequency encoding."""

from __future__ import annotations

import torch
from torch import nn


class _TruncExp(torch.autograd.Function):
    """exp(min(x, 15)) forward; the gradient uses exp(clamp(x, -15, 15)) so a large density never explodes a step."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.exp(x.clamp(max=15.0))

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return g * torch.exp(x.clamp(-15.0, 15.0))


def trunc_exp(x: torch.Tensor) -> torch.Tensor:
    return _TruncExp.apply(x)


def mlp(in_dim: int, out_dim: int, hidden: int = 64, layers: int = 3, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """`layers` linear layers (in -> hidden -> ... -> out) with activations between them, none after the last."""
    dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
    mods: list[nn.Module] = []
    for i in range(layers):
        mods.append(nn.Linear(dims[i], dims[i + 1]))
        if i < layers - 1:
            mods.append(act())
    return nn.Sequential(*mods)


def frequency_encoding(x: torch.Tensor, n_freqs: int) -> torch.Tensor:
    """x: N x D -> N x D (1 + 2 n_freqs): x, sin(2^k pi x), cos(2^k pi x) for k < n_freqs."""
    if n_freqs == 0:
        return x
    freqs = 2.0 ** torch.arange(n_freqs, dtype=x.dtype, device=x.device) * torch.pi
    xf = x[..., None, :] * freqs[:, None]  # N x K x D
    return torch.cat([x, xf.sin().flatten(-2), xf.cos().flatten(-2)], -1)
