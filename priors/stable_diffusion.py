"""Stable Diffusion 1.5-family base + ControlNet-openpose as a `PosePrior`, through diffusers.

Weights come from a local folder or a Hugging Face hub id (offline when HF_HUB_OFFLINE=1 or `local_files_only`).
A folder saved like a diffusers `StableDiffusionControlNetPipeline` (unet/, vae/, text_encoder/, tokenizer/,
scheduler/, controlnet/) needs nothing else; otherwise `controlnet` names the ControlNet separately.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import torch
from torch import nn

from priors.base import PosePrior, resize_images
from priors.errors import PriorError

log = logging.getLogger(__name__)

DEFAULT_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # the mirror of the retired runwayml repo
DEFAULT_CONTROLNET = "lllyasviel/sd-controlnet-openpose"
BASE_SUBFOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")

FIX = (
    "download the weights once with `hf download stable-diffusion-v1-5/stable-diffusion-v1-5 --local-dir SD` "
    "(a mirror of runwayml/stable-diffusion-v1-5) and `hf download lllyasviel/sd-controlnet-openpose "
    "--local-dir SD/controlnet`, then pass `--prior SD`"
)


_DTYPES = {"float16": torch.float16, "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32,
           "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}  # fmt: skip
DTYPES = ("auto", *_DTYPES)


@dataclass
class StableDiffusionConfig:
    """model: a local folder or hub id of an SD 1.5-family base (diffusers layout).
    controlnet: "auto" = the model folder's controlnet/ if it has one, else lllyasviel/sd-controlnet-openpose;
      or any folder / hub id of an openpose ControlNet.
    resolution: the image size the VAE encodes (renders are resized to it); None: the model's own (UNet sample size
      x VAE downsampling: 512 for SD 1.5).
    dtype: "auto" (fp16 on CUDA, fp32 on CPU), "float16", "float32" or "bfloat16". device: "auto", "cuda", "cpu"...
    cpu_offload: keep the networks in CPU memory and move each to the GPU only while it runs (saves GPU memory).
    text_cache_dir: on-disk text-embedding cache (None: $DREAMAVATAR_TEXT_CACHE or ~/.cache/dreamavatar/...).
    vae_slicing: encode renders one at a time and recompute each encoder pass in the backward (gradient
      checkpointing) instead of keeping its activations: about 1.8 GB per 512 px image in fp16 saved, one more VAE
      forward per image spent (the `--vram 8|12` presets).
    channels_last: NHWC memory format for the UNet, ControlNet and VAE (faster convolutions on tensor cores).
    compile: `torch.compile` the UNet and ControlNet (the first steps pay the compilation; CUDA only).
    """

    model: str = DEFAULT_BASE
    controlnet: str = "auto"
    # the metadata declare choices and ranges for whoever builds the config (dreamavatar.config checks them)
    resolution: Optional[int] = field(default=None, metadata={"min": 8})
    dtype: str = field(default="auto", metadata={"choices": DTYPES})
    device: str = field(default="auto", metadata={"choices": ("auto", "cpu", "cuda"), "pattern": r"cuda:\d+"})
    variant: Optional[str] = None
    local_files_only: bool = False
    attention_slicing: bool = False
    xformers: bool = False
    cpu_offload: bool = False
    controlnet_scale: float = field(default=1.0, metadata={"min": 0})
    text_cache_dir: Optional[str] = None
    vae_slicing: bool = False
    channels_last: bool = False
    compile: bool = False


def _offline(cfg: StableDiffusionConfig) -> bool:
    env = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("TRANSFORMERS_OFFLINE", "")
    return cfg.local_files_only or env.strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(source: str) -> bool:
    """A hub id is `owner/name`; anything else with a path shape (or that exists) is a folder."""
    if Path(source).expanduser().exists():
        return True
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or "\\" in source


HUB_TIMEOUT = 5.0  # seconds a request of the reachability probe may wait: an unreachable hub fails fast, no retries
_hub_answers: dict[str, bool] = {}


def _hub_reachable(repo_id: str) -> bool:
    """Whether the hub answers about `repo_id` within HUB_TIMEOUT seconds (once per process: an unreachable hub is
    not asked again). An unknown or gated id is refused here with the fix; an unreachable hub returns False, and
    the caller loads from the local cache only."""
    from huggingface_hub import constants, model_info
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    endpoint = constants.ENDPOINT
    if endpoint in _hub_answers and not _hub_answers[endpoint]:
        return False
    try:
        model_info(repo_id, timeout=HUB_TIMEOUT)
    except GatedRepoError:
        raise PriorError(f"{repo_id} is gated on the hub: accept its licence on huggingface.co and log in with "
                         "`hf auth login`, or download it and pass the folder") from None  # fmt: skip
    except RepositoryNotFoundError:
        raise PriorError(f"there is no model {repo_id!r} on the hub (or it is private): check the id, or give a "
                         f"local folder; {FIX}") from None  # fmt: skip
    except HfHubHTTPError as e:  # the hub (or a proxy) answered with an error: it is there, let the loader report
        log.info("hub probe for %s: %s", repo_id, e)
    except Exception as e:  # connection refused, DNS, timeouts: no hub from here
        log.info("the Hugging Face hub (%s) cannot be reached (%s): looking in the local cache only", endpoint,
                 " ".join(str(e).split())[:100])  # fmt: skip
        _hub_answers[endpoint] = False
        return False
    _hub_answers[endpoint] = True
    return True


def check_source(spec: str) -> None:
    """Refuse a prior that names a folder which does not exist or is not a diffusers folder (cheap; no loading)."""
    if spec == "tiny" or not _looks_like_path(spec):
        return
    path = Path(spec).expanduser()
    if not path.exists():
        raise PriorError(f"prior {spec}: the folder does not exist; give an existing folder or a hub id: {FIX}")
    _check_folder(path, BASE_SUBFOLDERS, "Stable Diffusion")


def _resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    table = _DTYPES
    if name not in table:
        raise PriorError(f"unknown dtype {name!r} for the SD prior: use auto, float16, float32 or bfloat16")
    return table[name]


def _check_folder(path: Path, subfolders: tuple[str, ...], what: str) -> None:
    if not path.is_dir():
        raise PriorError(f"{what} folder {path} does not exist: {FIX}")
    missing = [s for s in subfolders if not (path / s).is_dir()]
    if missing:
        raise PriorError(
            f"{path} is not a diffusers {what} folder (missing {', '.join(s + '/' for s in missing)}): {FIX}"
        )


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Silence diffusers/transformers loading chatter (progress bars, the `accelerate` hint) unless this module's
    logger is at INFO (`dreamavatar -v`); restores their settings afterwards."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    if log.isEnabledFor(logging.INFO):
        yield
        return
    saved = [(m, m.get_verbosity(), m.is_progress_bar_enabled()) for m in (dlog, tlog)]
    for m, _, _ in saved:
        m.set_verbosity_error()
        m.disable_progress_bar()
    try:
        yield
    finally:
        for m, verbosity, bars in saved:
            m.set_verbosity(verbosity)
            if bars:
                m.enable_progress_bar()


def _fingerprint(module: nn.Module, extra: str) -> str:
    """A cheap content hash of a network's weights (a strided sample of every tensor) + `extra`."""
    h = hashlib.sha256(extra.encode())
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().flatten()[:: 997].float().cpu().numpy().tobytes())
    return h.hexdigest()


class StableDiffusionPrior(PosePrior):
    """SD 1.5 + ControlNet-openpose: latents = VAE(rgb at `resolution`) * scaling factor, epsilon from the UNet with
    the ControlNet's residuals. Config: `StableDiffusionConfig` (also reachable as `StableDiffusionPrior.Config`)."""

    Config = StableDiffusionConfig

    def __init__(self, cfg: Optional[StableDiffusionConfig] = None):
        super().__init__()
        self.cfg = cfg = cfg or StableDiffusionConfig()
        want = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self._exec_device = torch.device(want)
        self.dtype = _resolve_dtype(cfg.dtype, self._exec_device)
        if cfg.text_cache_dir:
            self.text_cache_dir = Path(cfg.text_cache_dir).expanduser()
        self._load(cfg)
        self.eval()  # inference only: embeddings are cached, dropout is off
        self.model_id = "sd-text:" + _fingerprint(self.text_encoder, f"{self.tokenizer.model_max_length}|{self.dtype}")

    # ---- loading --------------------------------------------------------------------------------------------------
    def _load(self, cfg: StableDiffusionConfig) -> None:
        from diffusers import AutoencoderKL, ControlNetModel, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        base = cfg.model
        base_is_path = _looks_like_path(base)
        if base_is_path:
            base = str(Path(base).expanduser())
            _check_folder(Path(base), BASE_SUBFOLDERS, "Stable Diffusion")
        controlnet, cn_subfolder = cfg.controlnet, None
        if controlnet == "auto":
            if base_is_path and (Path(base) / "controlnet").is_dir():
                controlnet, cn_subfolder = base, "controlnet"
            elif base_is_path:
                raise PriorError(f"{base} has no controlnet/ subfolder and no ControlNet was given: {FIX}")
            else:
                controlnet = DEFAULT_CONTROLNET
        elif _looks_like_path(controlnet):
            controlnet = str(Path(controlnet).expanduser())
            if not (Path(controlnet) / "config.json").is_file():
                raise PriorError(f"{controlnet} is not a diffusers ControlNet folder (no config.json): {FIX}")

        hub_ids = [s for s in (base, controlnet) if not _looks_like_path(s)]
        kw = dict(local_files_only=_offline(cfg) or not all(_hub_reachable(s) for s in hub_ids))
        wkw = dict(kw, torch_dtype=self.dtype, variant=cfg.variant)
        try:
            with _quiet_loading():
                self.tokenizer = CLIPTokenizer.from_pretrained(base, subfolder="tokenizer", **kw)
                self.text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder", **wkw)
                self.vae = AutoencoderKL.from_pretrained(base, subfolder="vae", **wkw)
                self.unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", **wkw)
                scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler", **kw)
                self.controlnet = ControlNetModel.from_pretrained(controlnet, subfolder=cn_subfolder, **wkw)
        except Exception as e:  # OSError, hub errors (offline, unknown repo, gated), bad configs
            reason = " ".join(str(e).split())[:300]
            where = "offline" if kw["local_files_only"] else "from the hub or disk"
            if hub_ids and kw["local_files_only"] and not _offline(cfg):
                raise PriorError(f"cannot load the SD prior {cfg.model!r}: the Hugging Face hub cannot be reached "
                                 f"and the local cache does not hold it; check the network, or {FIX}") from None
            raise PriorError(f"cannot load the SD prior {cfg.model!r} {where} ({reason}): {FIX}") from None

        self.prediction_type = scheduler.config.get("prediction_type", "epsilon")
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise PriorError(f"unsupported prediction_type {self.prediction_type!r}: use an SD 1.5-family model")
        self.register_buffer("_alphas", scheduler.alphas_cumprod.float().clone(), persistent=False)
        self.num_train_timesteps = int(scheduler.config.num_train_timesteps)
        self.scaling_factor = float(getattr(self.vae.config, "scaling_factor", 0.18215))
        self._vae_scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.resolution = int(cfg.resolution or self.unet.config.sample_size * self._vae_scale)
        if self.resolution % self._vae_scale:
            raise PriorError(f"resolution {self.resolution} is not a multiple of {self._vae_scale}: use e.g. 512")

        for m in (self.text_encoder, self.vae, self.unet, self.controlnet):
            m.requires_grad_(False).eval()
        if cfg.attention_slicing:
            self.unet.set_attention_slice("auto")
            self.controlnet.set_attention_slice("auto")
        if cfg.xformers:
            try:
                self.unet.enable_xformers_memory_efficient_attention()
                self.controlnet.enable_xformers_memory_efficient_attention()
            except Exception as e:  # not installed / no CUDA: torch's own attention is used instead
                log.warning("xformers unavailable (%s); using torch attention", " ".join(str(e).split())[:120])
        if cfg.channels_last:
            for m in (self.vae, self.unet, self.controlnet):
                m.to(memory_format=torch.channels_last)
        if cfg.compile and self._exec_device.type == "cuda":
            self.unet = torch.compile(self.unet)
            self.controlnet = torch.compile(self.controlnet)
        if not cfg.cpu_offload:
            self.to(self._exec_device)

    # ---- devices --------------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self._exec_device

    def to(self, *args, **kwargs) -> "StableDiffusionPrior":  # type: ignore[override]
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None:
            self._exec_device = torch.device(device)
        return super().to(*args, **kwargs)

    @contextlib.contextmanager
    def _running(self, module: nn.Module) -> Iterator[nn.Module]:
        """With cpu_offload, at most one network sits on the GPU: the one about to run (the previous one goes back
        to CPU memory). Without it, everything already lives on the execution device."""
        if self.cfg.cpu_offload and self._exec_device.type != "cpu":
            resident = self.__dict__.get("_resident")
            if resident is not module:
                if resident is not None:
                    resident.to("cpu")
                module.to(self._exec_device)
                self.__dict__["_resident"] = module
        yield module

    # ---- hooks ----------------------------------------------------------------------------------------------------
    def latent_shape(self) -> tuple[int, int, int]:
        s = self.resolution // self._vae_scale
        return (int(self.unet.config.in_channels), s, s)

    def alphas_cumprod(self) -> torch.Tensor:
        return self._alphas

    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Prompts -> B x 77 x 768 (for SD 1.5) CLIP hidden states, padded to the tokenizer's max length."""
        ids = self.tokenizer(
            list(prompts), padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        ).input_ids  # fmt: skip
        with self._running(self.text_encoder) as te:
            return te(ids.to(self._exec_device))[0]

    def encode_images(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb B x 3 x H x W in [0, 1] -> latents B x 4 x R/8 x R/8 (posterior mean x scaling factor), float32."""
        x = resize_images(rgb.to(self._exec_device, torch.float32), self.resolution) * 2 - 1
        with self._running(self.vae) as vae:
            encode = lambda img: vae.encode(img.to(self.dtype)).latent_dist.mean  # noqa: E731
            if self.cfg.vae_slicing and torch.is_grad_enabled() and x.requires_grad:
                from torch.utils.checkpoint import checkpoint

                latents = torch.cat([checkpoint(encode, img, use_reentrant=False) for img in x.split(1)])
            elif self.cfg.vae_slicing:
                latents = torch.cat([encode(img) for img in x.split(1)])
            else:
                latents = encode(x)
        return latents.float() * self.scaling_factor

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        with self._running(self.vae) as vae:
            img = vae.decode((x0 / self.scaling_factor).to(self._exec_device, self.dtype)).sample
        return ((img.float() + 1) / 2).clamp(0, 1)

    def predict_noise(
        self, x_t: torch.Tensor, t: torch.Tensor, text_emb: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        dev, dt = self._exec_device, self.dtype
        cond = resize_images(cond.to(dev, torch.float32), self.resolution).to(dt)
        x, t = x_t.to(dev, dt), t.to(dev)
        emb = text_emb.to(dev, dt)
        with self._running(self.controlnet) as cn:
            down, mid = cn(
                x, t, encoder_hidden_states=emb, controlnet_cond=cond, conditioning_scale=self.cfg.controlnet_scale,
                return_dict=False,
            )  # fmt: skip
        with self._running(self.unet) as unet:
            out = unet(
                x, t, encoder_hidden_states=emb, down_block_additional_residuals=down,
                mid_block_additional_residual=mid,
            ).sample.float()  # fmt: skip
        if self.prediction_type == "v_prediction":  # eps = sqrt(a) v + sqrt(1 - a) x_t
            a = self._alphas.to(dev)[t].view(-1, 1, 1, 1)
            out = a.sqrt() * out + (1 - a).sqrt() * x_t.to(dev).float()
        return out

