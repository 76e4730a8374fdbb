"""The canonical NeRF: a hash grid + MLP giving density (truncated exp) and albedo (sigmoid) in canonical space."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dreamavatar.field.hashgrid import HashGrid, HashGridConfig
from dreamavatar.field.mlp import mlp, trunc_exp

SHADINGS = ("albedo", "lambertian")


@dataclass
class NeRFConfig:
    grid: HashGridConfig = field(default_factory=HashGridConfig)
    hidden: int = field(default=64, metadata={"min": 1})
    layers: int = field(default=3, metadata={"min": 1})
    density_bias: float = 0.0  # added before the exp
    # "albedo" | "lambertian" (normals from the density gradient, finite differences)
    shading: str = field(default="albedo", metadata={"choices": SHADINGS})
    # Lambertian: rgb = albedo (ambient + (1 - ambient) max(0, n . l))
    ambient: float = field(default=0.3, metadata={"min": 0, "max": 1})
    normal_eps: float = field(default=0.004, metadata={"gt": 0})  # metres, finite-difference step for normals


class CanonicalField(nn.Module):
    """Canonical-space radiance field. points N x 3 -> sigma N (>= 0, per metre), albedo N x 3 in [0, 1]."""

    Config = NeRFConfig

    def __init__(self, cfg: NeRFConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or NeRFConfig()
        if cfg.shading not in SHADINGS:
            raise ValueError(f"shading {cfg.shading!r}: use one of {', '.join(SHADINGS)}")
        self.grid = HashGrid(cfg.grid)
        self.net = mlp(self.grid.out_dim, 4, cfg.hidden, cfg.layers)

    def query(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: N x 3 -> (sigma N, albedo N x 3)."""
        h = self.net(self.grid(x))
        return trunc_exp(h[:, 0] + self.cfg.density_bias), torch.sigmoid(h[:, 1:])

    def density(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x 3 -> sigma N."""
        h = self.net(self.grid(x))
        return trunc_exp(h[:, 0] + self.cfg.density_bias)

    def normals(self, x: torch.Tensor) -> torch.Tensor:
        """Outward unit normals N x 3 = -grad(sigma) / |grad(sigma)| by central differences (6 density queries)."""
        eps = self.cfg.normal_eps
        offs = torch.eye(3, dtype=x.dtype, device=x.device) * eps
        pts = torch.cat([x[:, None] + offs, x[:, None] - offs], 1).reshape(-1, 3)  # N*6 x 3
        s = self.density(pts).reshape(-1, 2, 3)
        grad = (s[:, 0] - s[:, 1]) / (2 * eps)
        return -torch.nn.functional.normalize(grad, dim=-1)

    def shade(self, x: torch.Tensor, albedo: torch.Tensor, light_dir: torch.Tensor) -> torch.Tensor:
        """Lambertian colour. light_dir: 3 or N x 3 unit vectors pointing towards the light."""
        n = self.normals(x)
        lam = (n * light_dir.to(n).expand_as(n)).sum(-1, keepdim=True).clamp(min=0)
        a = self.cfg.ambient
        return albedo * (a + (1 - a) * lam)

    def forward(
        self, x: torch.Tensor, dirs: torch.Tensor | None = None, light_dir: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The renderer's field callable. x, dirs: N x 3 -> (sigma N, rgb N x 3); colour is view-independent.

        With shading "lambertian" (config) or a `light_dir`, colour is shaded by the density-gradient normals.
        """
        sigma, albedo = self.query(x)
        if light_dir is None and self.cfg.shading == "lambertian":
            light_dir = torch.tensor([0.0, 0.5, 1.0], device=x.device) / 1.25**0.5
        if light_dir is not None:
            albedo = self.shade(x, albedo, light_dir)
        return sigma, albedo
