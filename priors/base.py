"""The contract of a pose-conditioned diffusion prior.

A prior turns rendered images + OpenPose condition images + prompts into a score-distillation (SDS) loss, and can
`sample` an image from a prompt and a condition image so a person can check it by eye. Implementations provide the
model-specific hooks (text encoding, image <-> diffusion space, noise prediction, the noise schedule); the SDS and
sampling algorithms in this base class are shared by all of them (the formulas live in `priors.sds`).

Implementations: `priors.stable_diffusion.StableDiffusionPrior` (SD 1.5 + ControlNet-openpose via diffusers) and
`priors.tiny` (the embedded prior that ships in the package).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from priors.errors import PriorError
from priors.io import atomic_path
from priors.sds import (
    SDSConfig,
    add_noise,
    ddim_denoise,
    ddim_sample,
    eps_from_x0,
    eps_in_range,
    guidance_scales,
    guide,
    sample_timesteps,
    sds_gradient,
    sds_weight,
    surrogate_loss,
    timestep_range,
)

log = logging.getLogger(__name__)

DEFAULT_TEXT_CACHE = "~/.cache/dreamavatar/text_embeddings"
TextInput = Union[str, Sequence[str], torch.Tensor]


@dataclass
class SDSOutput:
    """loss: scalar surrogate whose gradient w.r.t. the rendered rgb is the (weighted, normalised) SDS gradient.
    grad_norm: B, ||eps_hat - eps|| over C x H x W before normalising (the number worth logging).
    timesteps: B, the sampled diffusion timesteps (integers in [0, num_train_timesteps)).
    """

    loss: torch.Tensor
    grad_norm: torch.Tensor
    timesteps: torch.Tensor


def default_text_cache_dir() -> Optional[Path]:
    """Where text embeddings are cached on disk: $DREAMAVATAR_TEXT_CACHE (empty or "off" disables), else
    ~/.cache/dreamavatar/text_embeddings."""
    value = os.environ.get("DREAMAVATAR_TEXT_CACHE", DEFAULT_TEXT_CACHE)
    if value.strip().lower() in ("", "off", "none", "0"):
        return None
    return Path(value).expanduser()


def resize_images(img: torch.Tensor, size: int) -> torch.Tensor:
    """B x C x H x W -> B x C x size x size: area when shrinking (no aliasing), bilinear when growing."""
    if img.shape[-2:] == (size, size):
        return img
    if img.shape[-1] > size and img.shape[-2] > size:
        return F.interpolate(img, size=(size, size), mode="area")
    return F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False)


class PosePrior(nn.Module):
    """Base class. Subclasses set `resolution` (the image size the prior works at, pixels; renders of other sizes
    are resampled to it) and implement the hooks below; `embed`, `sds` and `sample` are implemented once, here.

    `x0_clip`: pixel-space priors set 1.0 so `sample` keeps each x0 estimate in [-1, 1]; None for latent priors.
    `model_id`: a string that changes whenever the text encoder's weights change (a content fingerprint). When set,
    `embed` also caches embeddings on disk under `text_cache_dir`; None keeps the cache in memory only.
    """

    resolution: int = 64
    num_train_timesteps: int = 1000
    model_id: Optional[str] = None
    x0_clip: Optional[float] = None
    text_cache_dir: Optional[Path] = None  # None: default_text_cache_dir()

    # ---- hooks a prior implements -------------------------------------------------------------------------------
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Prompts -> text embeddings B x L x D (the model's conditioning). `embed` adds the caches."""
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

    # ---- overridable helpers --------------------------------------------------------------------------------------
    def conditions(self, prompt: str, azimuths_deg: Sequence[float], spec=None) -> list[str]:
        """What the prior is conditioned on for one camera per azimuth (degrees around the body): text priors take the
        view prompt ("back view of P"); a spec-conditioned prior overrides this (`spec`: a `prompts.spec.Spec`)."""
        from prompts import view_prompts

        return view_prompts(prompt, azimuths_deg)

    @property
    def device(self) -> torch.device:
        """Where inputs should live (the first parameter's or buffer's device; CPU for an empty module)."""
        first = next(itertools.chain(self.parameters(), self.buffers()), None)
        return first.device if first is not None else torch.device("cpu")

    @property
    def background(self) -> torch.Tensor:
        """3, the plain background colour (rgb in [0, 1]) to render behind an avatar when no background is learned:
        the one the prior was trained on where it has one (the tiny prior), mid grey otherwise."""
        return torch.full((3,), 0.5)

    def latent_shape(self) -> tuple[int, int, int]:
        """C x h x w of x0 for one image at `resolution` (found by encoding a grey image; override if cheaper)."""
        with torch.no_grad():
            x0 = self.encode_images(torch.full((1, 3, self.resolution, self.resolution), 0.5, device=self.device))
        return tuple(x0.shape[1:])  # type: ignore[return-value]

    def train(self, mode: bool = True) -> "PosePrior":
        self._embed_cache().clear()  # embeddings of a text encoder in training go stale
        return super().train(mode)

    # ---- text embeddings with caches ------------------------------------------------------------------------------
    def _embed_cache(self) -> dict[str, torch.Tensor]:
        if "_embeddings" not in self.__dict__:
            self.__dict__["_embeddings"] = {}
        return self.__dict__["_embeddings"]

    def _disk_path(self, prompt: str) -> Optional[Path]:
        root = self.text_cache_dir if self.text_cache_dir is not None else default_text_cache_dir()
        if root is None or not self.model_id:
            return None
        model_key = hashlib.sha256(self.model_id.encode()).hexdigest()[:24]
        return Path(root) / model_key / (hashlib.sha256(prompt.encode()).hexdigest()[:32] + ".pt")

    def _load_cached(self, prompt: str) -> Optional[torch.Tensor]:
        path = self._disk_path(prompt)
        if path is None or not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated or foreign file: encode again and overwrite it
            log.warning("ignoring unreadable text-embedding cache file %s (%s)", path, e)
            return None
        if not isinstance(entry, dict) or entry.get("prompt") != prompt or entry.get("model_id") != self.model_id:
            return None
        return entry["embedding"]

    def _store_cached(self, prompt: str, emb: torch.Tensor) -> None:
        path = self._disk_path(prompt)
        if path is None:
            return
        try:
            with atomic_path(path) as tmp:
                torch.save({"prompt": prompt, "model_id": self.model_id, "embedding": emb.detach().cpu().clone()}, tmp)
        except OSError as e:  # a read-only cache is not worth failing a run for
            log.warning("cannot write the text-embedding cache under %s (%s)", path.parent, e)

    def embed(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """Prompts -> B x L x D text embeddings, served from memory, then disk, then `encode_text` (one batched
        call for all prompts not cached). While the prior trains with gradients on, nothing is cached."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if self.training and torch.is_grad_enabled():
            return self.encode_text(prompts)
        cache = self._embed_cache()
        missing = [p for p in dict.fromkeys(prompts) if p not in cache]
        for p in list(missing):
            emb = self._load_cached(p)
            if emb is not None:
                cache[p] = emb.to(self.device)
                missing.remove(p)
        if missing:
            with torch.no_grad():
                embs = self.encode_text(missing)
            for p, e in zip(missing, embs):
                cache[p] = e.detach().clone()  # not a view: keeps no batch storage alive
                self._store_cached(p, e)
        return torch.stack([cache[p] for p in prompts]).to(self.device)

    def _text_pair(self, text: TextInput, batch: int, negative_prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditional B x L x D, unconditional B x L x D) embeddings; one prompt/embedding broadcasts to B."""
        if isinstance(text, torch.Tensor):
            cond = text.to(self.device)
        else:
            prompts = [text] if isinstance(text, str) else list(text)
            if not prompts or any(not isinstance(p, str) for p in prompts):
                raise PriorError("prompts must be a non-empty list of strings: give the text to distil")
            cond = self.embed(prompts)
        if cond.shape[0] == 1 and batch > 1:
            cond = cond.expand(batch, *cond.shape[1:])
        if cond.shape[0] != batch:
            raise PriorError(f"{cond.shape[0]} prompts for {batch} images: give one prompt, or one per image")
        uncond = self.embed([negative_prompt]).to(cond).expand_as(cond)
        return cond, uncond

    def _guided_eps(
        self, x_t: torch.Tensor, t: torch.Tensor, cond_emb: torch.Tensor, uncond_emb: torch.Tensor,
        cond: torch.Tensor, scale: float | torch.Tensor,
    ) -> torch.Tensor:  # fmt: skip
        """CFG epsilon: one batched call on [unconditional; conditional] (scale: one, or B x 1 x 1 x 1)."""
        eps = self.predict_noise(
            torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([uncond_emb, cond_emb]), torch.cat([cond, cond])
        ).float()
        eps_u, eps_c = eps.chunk(2)
        return guide(eps_u, eps_c, scale)

    # ---- shared algorithms ----------------------------------------------------------------------------------------
    def sds(
        self,
        rgb: torch.Tensor,
        cond: torch.Tensor,
        text: TextInput,
        cfg: Optional[SDSConfig] = None,
        generator: Optional[torch.Generator] = None,
        t: Optional[torch.Tensor] = None,
        noise: Optional[torch.Tensor] = None,
        step: Optional[int] = None,
    ) -> SDSOutput:
        """Score distillation on rendered images.

        rgb: B x 3 x H x W in [0, 1] (gradients flow back through `encode_images`); cond: B x 3 x H' x W' OpenPose
        images in [0, 1]; text: prompts (one or B) or embeddings (1 or B x L x D); t: B integer timesteps and
        noise: B x C x h x w to fix them (tests), else drawn from `generator`; step: training step for schedules.
        """
        cfg = cfg or SDSConfig()
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise PriorError(f"rendered images must be B x 3 x H x W, got {tuple(rgb.shape)}")
        B = rgb.shape[0]
        rgb = resize_images(rgb.to(self.device), self.resolution)
        cond = resize_images(cond.to(self.device, rgb.dtype), self.resolution)
        if cond.shape[0] == 1 and B > 1:
            cond = cond.expand(B, -1, -1, -1)
        cond_emb, uncond_emb = self._text_pair(text, B, cfg.negative_prompt)

        x0 = self.encode_images(rgb)
        if t is None:
            lo, hi = timestep_range(cfg, self.num_train_timesteps, step)
            t = sample_timesteps(B, lo, hi, generator, x0.device)
        t = t.to(x0.device).long().expand(B)
        if noise is None:
            gen_device = generator.device if generator is not None else "cpu"
            noise = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=torch.float32)
        noise = noise.to(x0.device, torch.float32)
        alpha_bar = self.alphas_cumprod().to(x0.device, torch.float32)[t]

        with torch.no_grad():
            x_t = add_noise(x0.detach().float(), noise, alpha_bar)
            scale = guidance_scales(cfg, t, self.num_train_timesteps)
            eps_hat = self._guided_eps(x_t, t, cond_emb, uncond_emb, cond, scale)
            if cfg.target_steps > 1:  # the target is where K guided DDIM steps from x_t arrive, as its epsilon
                def eps_fn(x: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
                    return self._guided_eps(x, tt, cond_emb, uncond_emb, cond, scale)

                x0_target = ddim_denoise(eps_fn, self.alphas_cumprod(), x_t, t, cfg.target_steps, self.x0_clip, eps_hat,
                                         to_zero=False)
                eps_hat = eps_from_x0(x_t, x0_target, alpha_bar)
            if cfg.in_range and self.x0_clip is not None:  # a pixel prior: its x0 has the image range
                eps_hat = eps_in_range(eps_hat, x_t, alpha_bar, self.x0_clip)
        grad, norm = sds_gradient(
            eps_hat, noise, sds_weight(alpha_bar, cfg.weighting), cfg.normalize, cfg.grad_clip
        )
        return SDSOutput(loss=surrogate_loss(x0, grad), grad_norm=norm, timesteps=t)

    @torch.no_grad()
    def sample(
        self,
        prompt: str,
        cond: torch.Tensor,
        steps: int = 30,
        guidance_scale: float = 7.5,
        negative_prompt: str = "",
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Draw one image for `prompt` on the OpenPose image cond (1 x 3 x H x W in [0, 1]) by DDIM with CFG.
        Returns 1 x 3 x R x R in [0, 1] at the prior's resolution."""
        if not isinstance(prompt, str):
            raise PriorError("sample takes one prompt string")
        return self.sample_batch([prompt], cond[:1], steps, guidance_scale, negative_prompt, generator, self.x0_clip)

    @torch.no_grad()
    def sample_batch(
        self,
        prompts: Sequence[str],
        cond: torch.Tensor,
        steps: int = 30,
        guidance_scale: float = 7.5,
        negative_prompt: str = "",
        generator: Optional[torch.Generator] = None,
        clip_x0: Optional[float] = None,
    ) -> torch.Tensor:
        """DDIM with CFG (`priors.sds.ddim_sample`) for a batch: one prompt (or one for all) per OpenPose image,
        cond B x 3 x H x W in [0, 1]; x_T is drawn as B x C x h x w from `generator`. clip_x0: as in `ddim_sample`.
        Returns B x 3 x R x R in [0, 1] at the prior's resolution."""
        B = cond.shape[0]
        cond = resize_images(cond.to(self.device, torch.float32), self.resolution)
        cond_emb, uncond_emb = self._text_pair(list(prompts), B, negative_prompt)
        gen_device = generator.device if generator is not None else "cpu"
        x_T = torch.randn((B, *self.latent_shape()), generator=generator, device=gen_device).to(self.device)

        def eps_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self._guided_eps(x_t, t, cond_emb, uncond_emb, cond, guidance_scale)

        x0 = ddim_sample(eps_fn, self.alphas_cumprod(), x_T, steps, clip_x0=clip_x0)
        return self.decode(x0).float().clamp(0, 1)
