"""`TinyPrior`: the embedded pose-conditioned diffusion prior that ships in the package (pixel space, 32 px).

It implements the `PosePrior` hooks; SDS and sampling come from the shared base class. It is conditioned on an
outfit-and-body spec (`prompts.spec.Spec`) and a view, not on words (`priors.tiny.spec_encoder`); a plain prompt is
parsed into a spec first. Weights live in `priors/tiny/weights/` as fp16 safetensors plus a config json (see
MODEL_CARD.md for how they were trained).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from priors.base import PosePrior, resize_images
from priors.errors import PriorError
from priors.io import atomic_path
from priors.tiny.model import TinyDenoiser, UNetConfig, ddpm_alphas_cumprod
from priors.tiny.spec_encoder import (
    SpecEncoder, SpecEncoderConfig, SpecFields, condition_key, read_condition, spec_fields,
)  # fmt: skip

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "tiny_prior.safetensors"
CONFIG_FILE = "config.json"
BACKGROUND = (0.78, 0.84, 0.92)  # the plain background of the training renders (rgb); read it as `TinyPrior.background`


@dataclass
class TinyPriorConfig:
    unet: UNetConfig = field(default_factory=UNetConfig)
    spec: SpecEncoderConfig = field(default_factory=SpecEncoderConfig)
    num_train_timesteps: int = 1000
    background: list[float] = field(default_factory=lambda: list(BACKGROUND))
    trained_steps: int = 0  # written by the training script

    @staticmethod
    def from_dict(d: dict) -> "TinyPriorConfig":
        return TinyPriorConfig(
            unet=UNetConfig(**d.get("unet", {})),
            spec=SpecEncoderConfig(**d.get("spec", {})),
            **{k: v for k, v in d.items() if k not in ("unet", "spec")},
        )

    def to_dict(self) -> dict:
        return asdict(self)


def resize_to(img: torch.Tensor, size: int) -> torch.Tensor:
    """Resample B x C x H x W images to size x size as the shared SDS code does (area when shrinking)."""
    return resize_images(img, size)


class TinyPrior(PosePrior):
    """Pixel-space prior: x0 = 2 * rgb - 1 at `resolution` px. Inputs of other sizes are area-resampled."""

    x0_clip = 1.0  # sampling keeps each x0 estimate in the pixel range

    def __init__(self, cfg: TinyPriorConfig | None = None):
        super().__init__()
        self.cfg = cfg or TinyPriorConfig()
        self.resolution = self.cfg.unet.resolution
        self.num_train_timesteps = self.cfg.num_train_timesteps
        self.spec_encoder = SpecEncoder(self.cfg.spec)
        self.denoiser = TinyDenoiser(self.cfg.unet)
        self.register_buffer("_alphas_cumprod", ddpm_alphas_cumprod(self.num_train_timesteps), persistent=False)

    @property
    def background(self) -> torch.Tensor:
        """3, the plain background colour the prior was trained with (rgb in [0, 1])."""
        return torch.tensor(self.cfg.background, dtype=torch.float32)

    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Conditions (`condition_key` strings, "" for the null condition, or plain prompts) -> B x L x D (the base
        class's `embed` adds the memory/disk caches)."""
        return self.encode_specs([read_condition(p) for p in prompts])

    def encode_specs(self, items: list[tuple]) -> torch.Tensor:
        """(Spec or None, view or None) pairs -> B x L x D tokens (None spec: the null condition)."""
        return self.encode_fields(spec_fields(list(items), self.cfg.spec.max_garments))

    def encode_fields(self, fields: SpecFields) -> torch.Tensor:
        """Specs already turned into tensors (`spec_fields`; training batches) -> B x L x D tokens."""
        return self.spec_encoder(fields.to(self._alphas_cumprod.device))

    def conditions(self, prompt: str, azimuths_deg, spec=None) -> list[str]:
        """One condition per camera: the spec (parsed from `prompt` unless given) seen from each azimuth."""
        from prompts import view_name

        if spec is None:
            from prompts.parse import parse_prompt

            spec = parse_prompt(prompt)
        return [condition_key(spec, view_name(float(a))) for a in azimuths_deg]

    def encode_images(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb B x 3 x H x W in [0, 1] -> B x 3 x R x R in [-1, 1]."""
        return resize_to(rgb, self.resolution) * 2 - 1

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """B x 3 x R x R -> rgb in [0, 1]."""
        return ((x0 + 1) / 2).clamp(0, 1)

    def predict_noise(
        self, x_t: torch.Tensor, t: torch.Tensor, text_emb: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        cond = resize_to(cond.to(x_t), self.resolution)
        t = t.to(x_t.device).expand(x_t.shape[0]) if t.dim() == 0 or t.numel() == 1 else t.to(x_t.device)
        return self.denoiser(x_t, t, text_emb.to(x_t), cond)

    def alphas_cumprod(self) -> torch.Tensor:
        return self._alphas_cumprod


def save_tiny_prior(prior: TinyPrior, directory: str | Path, dtype: torch.dtype = torch.float16) -> None:
    """Write weights (safetensors, `dtype`) and config json atomically into `directory`."""
    from safetensors.torch import save_file

    d = Path(directory)
    state = {k: v.detach().to(dtype).contiguous() for k, v in prior.state_dict().items()}
    with atomic_path(d / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    with atomic_path(d / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(prior.cfg.to_dict(), indent=2) + "\n")


def load_tiny_prior(path: str | Path | None = None, device: str | torch.device = "cpu") -> TinyPrior:
    """Load the shipped tiny prior (or one from `path`, a folder holding config.json + tiny_prior.safetensors).
    Runs offline; weights are stored in fp16 and used in float32."""
    from safetensors.torch import load_file

    d = Path(path) if path is not None else WEIGHTS_DIR
    if not (d / WEIGHTS_FILE).is_file() or not (d / CONFIG_FILE).is_file():
        raise PriorError(
            f"no tiny prior weights in {d} (need {WEIGHTS_FILE} and {CONFIG_FILE}): reinstall dreamavatar, or "
            "train them with `python -m training.train_tiny_prior`"
        )
    try:
        cfg = TinyPriorConfig.from_dict(json.loads((d / CONFIG_FILE).read_text()))
        prior = TinyPrior(cfg)
        state = {k: v.float() for k, v in load_file(str(d / WEIGHTS_FILE)).items()}
        prior.load_state_dict(state)
        prior.model_id = "tiny:" + hashlib.sha256((d / WEIGHTS_FILE).read_bytes()).hexdigest()
    except Exception as e:  # safetensors, json and shape errors alike: the files are not a usable tiny prior
        raise PriorError(f"tiny prior weights in {d} are unreadable ({str(e).splitlines()[0]}): retrain or reinstall")
    return prior.to(device).eval().requires_grad_(False)


def sample_batch(
    prior: PosePrior,
    prompts: list[str],
    cond: torch.Tensor,
    steps: int = 30,
    guidance_scale: float = 3.0,
    generator: torch.Generator | None = None,
    negative_prompt: str = "",
) -> torch.Tensor:
    """`PosePrior.sample_batch` with the tiny prior's settings: one prompt per condition image (B x 3 x H x W in
    [0, 1]), CFG 3, x0 estimates clipped to the pixel range at every step. Returns B x 3 x R x R."""
    return prior.sample_batch(prompts, cond, steps, guidance_scale, negative_prompt, generator, clip_x0=1.0)
