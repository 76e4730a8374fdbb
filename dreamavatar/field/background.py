"""The background: a small MLP of the ray direction, blended by the renderer as rgb + (1 - opacity) * bg."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dreamavatar.field.mlp import frequency_encoding, mlp


@dataclass
class BackgroundConfig:
    # low frequencies: the background should stay smooth, not explain the avatar
    n_freqs: int = field(default=3, metadata={"min": 0})
    hidden: int = field(default=32, metadata={"min": 1})
    layers: int = field(default=2, metadata={"min": 1})


class Background(nn.Module):
    """dirs R x 3 (unit) -> colour R x 3 in [0, 1]."""

    Config = BackgroundConfig

    def __init__(self, cfg: BackgroundConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or BackgroundConfig()
        self.net = mlp(3 * (1 + 2 * cfg.n_freqs), 3, cfg.hidden, cfg.layers)

    def forward(self, dirs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(frequency_encoding(dirs, self.cfg.n_freqs)))
