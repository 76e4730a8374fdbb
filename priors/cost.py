"""What score distillation from a latent diffusion prior (Stable Diffusion + ControlNet) costs: network evaluations
and FLOPs per step and per avatar.

FLOPs are counted by `torch.utils.flop_counter` on meta-device copies of the networks, built from their configs:
shapes only, no memory and no arithmetic, so the real-size count takes a second on any machine. They are the
matrix-multiply and convolution FLOPs (2 per multiply-add, attention included), the usual convention; norms and
activations are not counted.

One SDS step on B cameras runs the ControlNet and the UNet on 2B latents (classifier-free guidance: the
unconditional and conditional halves in one batch), the VAE encoder forward on B renders, and its backward (input
gradients only: the weights are frozen) to carry the gradient back to the rendered pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch


@dataclass
class StepCost:
    """Per SDS step on `batch` cameras. FLOPs in units of 1 (multiply and add counted separately)."""

    batch: int
    unet_evals: int
    controlnet_evals: int
    vae_encodes: int
    unet_flops: float
    controlnet_flops: float
    vae_forward_flops: float
    vae_backward_flops: float

    @property
    def flops(self) -> float:
        return self.unet_flops + self.controlnet_flops + self.vae_forward_flops + self.vae_backward_flops

    def times(self, steps: int) -> dict[str, float]:
        """The totals over `steps` steps (an avatar)."""
        out = {k: v * steps for k, v in asdict(self).items() if k != "batch"}
        out["flops"] = self.flops * steps
        return out


def _meta_models(configs: Mapping[str, Mapping[str, Any]]):
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

    classes = {"unet": UNet2DConditionModel, "controlnet": ControlNetModel, "vae": AutoencoderKL}
    with torch.device("meta"):
        models = {k: classes[k].from_config(dict(configs[k])) for k in classes}
    for m in models.values():
        m.requires_grad_(False).eval()
    return models


def _count(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def network_flops(
    configs: Mapping[str, Mapping[str, Any]], resolution: int = 512, text_tokens: int = 77
) -> dict[str, float]:
    """FLOPs of one evaluation (batch 1) of each network at `resolution` pixels: unet, controlnet (each at the
    latent size), vae_forward (encoder + quant conv, the posterior mean) and vae_backward (its input gradient).
    `configs` maps unet / controlnet / vae to their diffusers configs (e.g. `prior.unet.config`)."""
    m = _meta_models(configs)
    vae_scale = 2 ** (len(m["vae"].config.block_out_channels) - 1)
    s = resolution // vae_scale
    meta = dict(device="meta")
    x = torch.empty(1, m["unet"].config.in_channels, s, s, **meta)
    t = torch.full((1,), 500, dtype=torch.long, **meta)
    emb = torch.empty(1, text_tokens, m["unet"].config.cross_attention_dim, **meta)
    cond = torch.empty(1, 3, resolution, resolution, **meta)
    out: dict[str, float] = {}
    out["controlnet"] = _count(lambda: m["controlnet"](x, t, encoder_hidden_states=emb, controlnet_cond=cond,
                                                       return_dict=False))  # fmt: skip
    down, mid = m["controlnet"](x, t, encoder_hidden_states=emb, controlnet_cond=cond, return_dict=False)
    out["unet"] = _count(lambda: m["unet"](x, t, encoder_hidden_states=emb, down_block_additional_residuals=down,
                                           mid_block_additional_residual=mid))  # fmt: skip
    img = torch.empty(1, 3, resolution, resolution, requires_grad=True, **meta)
    with torch.enable_grad():
        out["vae_forward"] = _count(lambda: m["vae"].encode(img).latent_dist.mean)
        latents = m["vae"].encode(img).latent_dist.mean
        out["vae_backward"] = _count(lambda: latents.backward(torch.empty_like(latents)))
    return out


def step_cost(per_eval: Mapping[str, float], batch: int, guidance: bool = True, vae_slicing: bool = False) -> StepCost:
    """One SDS step on `batch` cameras from `network_flops`' per-evaluation FLOPs. `vae_slicing`: the encoder's
    forward runs twice per image (once more in the backward, `StableDiffusionConfig.vae_slicing`)."""
    n = batch * (2 if guidance else 1)
    forwards = batch * (2 if vae_slicing else 1)
    return StepCost(
        batch=batch, unet_evals=n, controlnet_evals=n, vae_encodes=forwards,
        unet_flops=n * per_eval["unet"], controlnet_flops=n * per_eval["controlnet"],
        vae_forward_flops=forwards * per_eval["vae_forward"], vae_backward_flops=batch * per_eval["vae_backward"],
    )  # fmt: skip
