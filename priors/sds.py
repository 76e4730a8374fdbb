"""Score distillation (SDS) pieces shared by every prior: timestep schedules, weighting, classifier-free guidance,
the gradient and its surrogate loss, and a DDIM sampler over a prior's noise schedule.

The SDS gradient for a rendered image with diffusion-space x0 (DreamFusion; DreamWaltz's settings as defaults):
    x_t   = sqrt(a_t) x0 + sqrt(1 - a_t) eps                      a_t = alpha-bar at timestep t
    e_hat = e_u + s (e_c - e_u)                                   classifier-free guidance, scale s
    g     = w(t) (e_hat - eps) [/ ||e_hat - eps||]                 optional unit L2 per sample over C x H x W
    loss  = 0.5 ||x0 - stopgrad(x0 - g)||^2 / B                   so d loss / d x0 = g / B
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

WEIGHTINGS = ("uniform", "sds", "fantasia")


@dataclass
class SDSConfig:
    """guidance_scale: CFG scale s (50 for SD in DreamWaltz; a tiny prior wants far less).
    t_min, t_max: timesteps drawn uniformly in [t_min, t_max] * T (integers, bounds included).
    t_max_schedule: anneals t_max: [start_step, start_value, end_value, end_step], linear in the training step
      (threestudio style); None keeps t_max.
    weighting: w(t) = 1 ("uniform"), 1 - a_t ("sds"), sqrt(a_t) (1 - a_t) ("fantasia").
    normalize: divide (e_hat - eps) by its L2 norm per sample (DreamWaltz).
    grad_clip: clamp each element of the gradient to [-grad_clip, grad_clip] (None: off).
    negative_prompt: the unconditional branch's prompt ("" as in DreamWaltz).
    guidance_t_schedule: the CFG scale by timestep instead of one value: [t_lo, scale_lo, scale_hi, t_hi] with t as
      a fraction of T, linear in between (each sample its own scale); None keeps guidance_scale for every t. With
      [0.3, 1, 7.5, 0.6] on the tiny preset the low-noise steps follow the conditional estimate, so blues no longer
      go to the corner of the colour cube, but reds and yellows, which reach their colour only through guidance,
      stay muted: off by default (measured in priors/tiny/MODEL_CARD.md).
    target_steps: 1 is SDS's one-step x0 estimate; K > 1 takes as the target the x0 estimate that K DDIM steps of
      the guided prior reach from x_t (timesteps t, (K-1)t/K, ..., t/K; each x0 estimate clipped to a pixel prior's
      range), and the gradient is that of SDS toward it (K - 1 more guidance calls a step). The tiny preset's rule
      (K = 3, CFG 3): on benchmarks/bench_generate.py it draws colours right where plain CFG 7.5 saturated blues
      past their colour (priors/tiny/MODEL_CARD.md); off (1) by default for other priors.
    in_range: for pixel-space priors (those with an x0 range), scale each pixel's guided x0 estimate into the image
      range (`eps_in_range`); latent priors ignore it. Off by default: on the tiny preset it keeps blues from
      saturating, but the prior's own reds and yellows are muted and plain CFG's saturation is what reaches them
      (benchmarks/bench_generate.py; priors/tiny/MODEL_CARD.md).
    """

    # the metadata declare choices and ranges for whoever builds the config (dreamavatar.config checks them)
    guidance_scale: float = field(default=50.0, metadata={"min": 0})
    t_min: float = field(default=0.02, metadata={"min": 0, "max": 1})
    t_max: float = field(default=0.98, metadata={"min": 0, "max": 1})
    t_max_schedule: Optional[list[float]] = field(default=None, metadata={"length": 4})
    guidance_t_schedule: Optional[list[float]] = field(default=None, metadata={"length": 4})
    weighting: str = field(default="uniform", metadata={"choices": WEIGHTINGS})
    normalize: bool = True
    grad_clip: Optional[float] = field(default=None, metadata={"gt": 0})
    negative_prompt: str = ""
    in_range: bool = False
    target_steps: int = field(default=1, metadata={"min": 1})


def scheduled_value(value: float, schedule: Optional[list[float]], step: Optional[float]) -> float:
    """`value`, or the linear schedule [start_step, start_value, end_value, end_step] evaluated at `step` (a training
    step, or any other abscissa such as t / T)."""
    if schedule is None or step is None:
        return value
    if len(schedule) != 4:
        raise ValueError(f"a schedule is [start_step, start_value, end_value, end_step], got {schedule}")
    start_step, start_value, end_value, end_step = schedule
    if end_step <= start_step:
        return end_value if step >= end_step else start_value
    frac = min(max((step - start_step) / (end_step - start_step), 0.0), 1.0)
    return start_value + frac * (end_value - start_value)


def guidance_scales(cfg: SDSConfig, t: torch.Tensor, num_train_timesteps: int) -> torch.Tensor | float:
    """The CFG scale of each of B timesteps t (a B x 1 x 1 x 1 tensor), or cfg.guidance_scale when it has no
    timestep schedule."""
    if cfg.guidance_t_schedule is None:
        return cfg.guidance_scale
    scales = [scheduled_value(cfg.guidance_scale, cfg.guidance_t_schedule, float(v) / num_train_timesteps)
              for v in t.tolist()]  # fmt: skip
    return torch.tensor(scales, device=t.device, dtype=torch.float32).view(-1, 1, 1, 1)


def timestep_range(cfg: SDSConfig, num_train_timesteps: int, step: Optional[int] = None) -> tuple[int, int]:
    """Inclusive integer timestep bounds for this training step."""
    t_max = scheduled_value(cfg.t_max, cfg.t_max_schedule, step)
    lo = int(round(cfg.t_min * num_train_timesteps))
    hi = int(round(t_max * num_train_timesteps))
    lo = min(max(lo, 0), num_train_timesteps - 1)
    hi = min(max(hi, lo), num_train_timesteps - 1)
    return lo, hi


def sample_timesteps(
    batch: int, lo: int, hi: int, generator: Optional[torch.Generator] = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """B integer timesteps uniform in [lo, hi] (drawn on the generator's device, then moved)."""
    gen_device = generator.device if generator is not None else "cpu"
    return torch.randint(lo, hi + 1, (batch,), generator=generator, device=gen_device).to(device)


def sds_weight(alpha_bar_t: torch.Tensor, weighting: str) -> torch.Tensor:
    """w(t) for each sample from its alpha-bar (B)."""
    if weighting == "uniform":
        return torch.ones_like(alpha_bar_t)
    if weighting == "sds":
        return 1 - alpha_bar_t
    if weighting == "fantasia":
        return alpha_bar_t.sqrt() * (1 - alpha_bar_t)
    raise ValueError(f"unknown SDS weighting {weighting!r}: use one of {', '.join(WEIGHTINGS)}")


def add_noise(x0: torch.Tensor, noise: torch.Tensor, alpha_bar_t: torch.Tensor) -> torch.Tensor:
    """Forward diffusion q(x_t | x0). x0, noise: B x C x h x w; alpha_bar_t: B."""
    a = alpha_bar_t.view(-1, *([1] * (x0.dim() - 1))).to(x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def guide(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: e_u + s (e_c - e_u)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def eps_in_range(eps: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: torch.Tensor, limit: float) -> torch.Tensor:
    """A guided epsilon whose x0 estimate is brought within [-limit, limit] (a pixel-space prior's image range).

    CFG extrapolates past the conditional estimate; at high noise, where the unconditional estimate is a blur of the
    background, the result leaves the range (x0 of blue trousers at t = 500 and s = 7.5: blue 2.2, red -0.3 in
    [0, 1] units), and SDS, which pulls the render toward that x0, saturates the colour to pure blue. Here each
    pixel's x0 is scaled toward mid-grey (0) just enough to lie in range (a per-pixel form of Imagen's dynamic
    thresholding): the extrapolated hue is kept, and colours at a corner of the range (a saturated red or yellow)
    stay there. Pixels already in range are unchanged.
    All B x C x h x w except alpha_bar_t (B); returns epsilon for that x0: (x_t - sqrt(a) x0) / sqrt(1 - a).
    """
    a = alpha_bar_t.view(-1, *([1] * (x_t.dim() - 1))).to(x_t)
    x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    return eps_from_x0(x_t, x0 / (x0.abs().amax(1, keepdim=True) / limit).clamp(min=1), alpha_bar_t)


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, alpha_bar_t: torch.Tensor) -> torch.Tensor:
    """The epsilon whose x0 estimate at x_t is `x0`: (x_t - sqrt(a) x0) / sqrt(1 - a). x_t, x0: B x C x h x w;
    alpha_bar_t: B."""
    a = alpha_bar_t.view(-1, *([1] * (x_t.dim() - 1))).to(x_t)
    return (x_t - a.sqrt() * x0) / (1 - a).sqrt()


def sds_gradient(
    eps_hat: torch.Tensor,
    noise: torch.Tensor,
    weight: torch.Tensor,
    normalize: bool = True,
    grad_clip: Optional[float] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SDS gradient on x0 (B x C x h x w) and ||e_hat - eps|| per sample (B), taken before normalising."""
    diff = (eps_hat - noise).float()
    norm = diff.flatten(1).norm(dim=1)
    if normalize:
        diff = diff / norm.clamp(min=1e-12).view(-1, *([1] * (diff.dim() - 1)))
    grad = weight.float().view(-1, *([1] * (diff.dim() - 1))) * diff
    if grad_clip is not None:
        grad = grad.clamp(-grad_clip, grad_clip)
    return torch.nan_to_num(grad), norm


def surrogate_loss(x0: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """0.5 ||x0 - stopgrad(x0 - grad)||^2 summed, / B: a scalar whose gradient w.r.t. x0 is grad / B."""
    target = (x0 - grad.to(x0)).detach()
    return 0.5 * (x0 - target).pow(2).sum() / x0.shape[0]


@torch.no_grad()
def ddim_sample(
    eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    alphas_cumprod: torch.Tensor,
    x_T: torch.Tensor,
    steps: int,
    clip_x0: Optional[float] = None,
) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) from pure noise x_T down to x0 over `steps` evenly spaced timesteps.

    eps_fn(x_t, t) -> epsilon (already guided); t is a B-long integer tensor. clip_x0: clamp each x0 estimate to
    [-clip_x0, clip_x0] and re-derive epsilon from it (pixel-space models; diffusers' `clip_sample`).
    Returns the final x0 estimate.
    """
    T = alphas_cumprod.shape[0]
    t = torch.full((x_T.shape[0],), T - 1, dtype=torch.long, device=x_T.device)
    return ddim_denoise(eps_fn, alphas_cumprod, x_T, t, steps, clip_x0)


def ddim_denoise(
    eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    alphas_cumprod: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    steps: int,
    clip_x0: Optional[float] = None,
    eps_t: Optional[torch.Tensor] = None,
    to_zero: bool = True,
) -> torch.Tensor:
    """DDIM (eta = 0) from x_t (B x C x h x w) at each sample's own timestep t (B integers) down to x0 over `steps`
    evenly spaced timesteps per sample, t included, 0 last (`ddim_sample` is this from t = T - 1). eps_fn and
    clip_x0 as in `ddim_sample`; eps_t: eps_fn(x_t, t) when the caller has it already. to_zero=False: the timesteps
    are t, (K-1)t/K, ..., t/K and the last x0 estimate is the result (one call fewer than stepping to t = 0, whose
    call only moves x0 by sqrt(1 - alpha-bar_0) = 1 % of an epsilon). Returns the final x0 estimate."""
    T = alphas_cumprod.shape[0]
    steps = max(1, min(int(steps), T))
    frac = torch.linspace(1, 0, steps + (0 if to_zero else 1), device=x_t.device)[:steps]
    ts = (t.to(x_t.device).float()[:, None] * frac[None]).round().long()  # B x steps
    ac = alphas_cumprod.to(device=x_t.device, dtype=torch.float32)
    x = x_t.float()
    x0 = x
    view = (-1,) + (1,) * (x.dim() - 1)
    for i in range(steps):
        a_t = ac[ts[:, i]].view(view)
        a_prev = ac[ts[:, i + 1]].view(view) if i + 1 < steps else torch.ones_like(a_t)
        eps = (eps_t if i == 0 and eps_t is not None else eps_fn(x, ts[:, i])).float()
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        if clip_x0 is not None:
            x0 = x0.clamp(-clip_x0, clip_x0)
            eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x0
