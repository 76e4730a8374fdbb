"""The contract of a pose-conditioned diffusion prior.

A prior turns rendered images + OpenPose condition images + prompts into a score-distillation (SDS) loss, and can
`sample` an image from a prompt and a condition image so a person can check it by eye. Implementations provide the
model-specific hooks (text encoding, image <-> diffusion space, noise prediction, the noise schedule); the SDS and
sampling algorithms in this base class are shared by all of them (see `priors.sds`).

Implementations: `priors.stable_diffusion.StableDiffusionPrior` (SD 1.5 + ControlNet-openpose via diffusers) and
`priors.tiny` (the embedded prior that ships in the package).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SDSOutput:
    """loss: scalar surrogate whose gradient w.r.t. the rendered rgb is the (weighted, normalised) SDS gradient.
    grad_norm: B, ||eps_hat - eps|| over C x H x W before normalising (the number worth logging).
    timesteps: B, the sampled diffusion timesteps (integers in [0, num_train_timesteps)).
    """

    loss: torch.Tensor
    grad_norm: torch.Tensor
    timesteps: torch.Tensor


class PosePrior(nn.Module):
    """Base class. Subclasses set `resolution` (the rendered image size the prior expects, pixels) and implement the
    hooks below; `sds` and `sample` are implemented once, here, on top of them."""

    resolution: int = 64
    num_train_timesteps: int = 1000

    # ---- hooks a prior implements -------------------------------------------------------------------------------
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Prompts -> text embeddings B x L x D (the model's conditioning). Implementations cache on disk/memory."""
        raise NotImplementedError

    def encode_images(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb B x 3 x H x W in [0, 1] -> diffusion-space x0 (latents for SD; scaled pixels for a pixel model)."""
        raise NotImplementedError

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """Diffusion-space x0 -> rgb B x 3 x H x W in [0, 1]."""
        raise NotImplementedError

    def predict_noise(
        self, x_t: torch.Tensor, t: torch.Tensor, text_emb: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        """epsilon prediction for noisy x_t (B x C x h x w) at integer timesteps t (B), conditioned on text
        embeddings (B x L x D) and OpenPose images cond (B x 3 x H x W in [0, 1])."""
        raise NotImplementedError

    def alphas_cumprod(self) -> torch.Tensor:
        """num_train_timesteps values of alpha-bar (the noise schedule), float32."""
        raise NotImplementedError
