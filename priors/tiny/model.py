"""The tiny prior's denoiser: a pixel-space UNet (diffusers' UNet2DConditionModel, randomly initialised and trained
by this project) whose input is the noisy image concatenated with the OpenPose condition image.

Conditioning on the pose by channel concatenation rather than a ControlNet: at 32 px the condition is already
aligned pixel for pixel with the image, it costs 3 input channels instead of a 1.8M-parameter copy of the encoder,
and it learns faster on a CPU budget (one network, one optimiser, every step updates the pose pathway).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class UNetConfig:
    resolution: int = 32
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    layers_per_block: int = 1
    cross_attention_dim: int = 64
    attention_head_dim: int = 16
    cross_attention_level: int = 1  # which resolution level (0 = full res) cross-attends the text


def build_unet(cfg: UNetConfig) -> nn.Module:
    """UNet2DConditionModel with 6 input channels (noisy rgb + condition rgb) and 3 output channels (epsilon)."""
    from diffusers import UNet2DConditionModel

    n = len(cfg.channels)
    down = ["CrossAttnDownBlock2D" if i == cfg.cross_attention_level else "DownBlock2D" for i in range(n)]
    up = ["CrossAttnUpBlock2D" if n - 1 - i == cfg.cross_attention_level else "UpBlock2D" for i in range(n)]
    return UNet2DConditionModel(
        sample_size=cfg.resolution,
        in_channels=6,
        out_channels=3,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        block_out_channels=tuple(cfg.channels),
        layers_per_block=cfg.layers_per_block,
        cross_attention_dim=cfg.cross_attention_dim,
        attention_head_dim=cfg.attention_head_dim,
        norm_num_groups=8,
        mid_block_type="UNetMidBlock2DCrossAttn",
    )


class TinyDenoiser(nn.Module):
    """epsilon(x_t, t, text, cond). x_t, cond: B x 3 x R x R (x_t in [-1, 1] scale, cond in [0, 1])."""

    def __init__(self, cfg: UNetConfig | None = None):
        super().__init__()
        self.cfg = cfg or UNetConfig()
        self.unet = build_unet(self.cfg)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, text_emb: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x_t, cond * 2 - 1], dim=1)
        return self.unet(x, t, encoder_hidden_states=text_emb, return_dict=False)[0]


def ddpm_alphas_cumprod(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """The linear DDPM schedule (Ho et al.) used in pixel space: num_steps values of alpha-bar, float32."""
    betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float()
