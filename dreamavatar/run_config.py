"""The typed config of a run (`dreamavatar generate`, saved as the run directory's config.yaml and read back by
`animate`, `compose` and `export`): presets (YAML in dreamavatar/configs/) + `key=value` overrides.

The prior is a section, `prior.guidance_type` + `prior.guidance.*` (see `priors.PriorConfig`); files written before
that (`prior: tiny|MODEL`, `controlnet: ...` at the top level) are read through `upgrade_prior_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from dreamavatar.body import BODY_NAMES
from dreamavatar.field.avatar import AvatarConfig
from dreamavatar.field.background import BackgroundConfig
from dreamavatar.field.init import InitConfig
from priors import PriorConfig
from priors.sds import SDSConfig, scheduled_value
from prompts.spec import Spec

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
PRESETS = ("tiny", "sd15", "sd15-dreamwaltz")
PRESET_BASE = {"sd15-dreamwaltz": "sd15"}  # a preset file read on top of its base's


@dataclass(frozen=True)
class VramPreset:
    """`generate --vram N`: the Stable Diffusion options and the largest camera batch that fit N GB of GPU memory.
    A smaller batch than the preset's runs proportionally more steps, so an avatar sees the same number of views
    (and costs the same UNet + ControlNet evaluations). Peaks: estimated and measured ones in the README."""

    max_batch: int
    guidance: tuple[tuple[str, bool], ...] = ()


VRAM_PRESETS = {
    24: VramPreset(max_batch=4),
    12: VramPreset(max_batch=2, guidance=(("vae_slicing", True),)),
    8: VramPreset(max_batch=1, guidance=(("vae_slicing", True), ("attention_slicing", True), ("cpu_offload", True))),
}
BACKGROUNDS = ("mlp", "prior")
DEVICES = ("auto", "cpu", "cuda")  # or cuda:N
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class CameraConfig:
    """Random training cameras, uniform in each range; they look at the body's vertical centre."""

    radius: list[float] = field(default_factory=lambda: [1.0, 2.0], metadata={"pair": True, "gt": 0})
    polar_deg: list[float] = field(default_factory=lambda: [60.0, 120.0], metadata={"pair": True, "min": 0, "max": 180})
    azimuth_deg: list[float] = field(default_factory=lambda: [0.0, 360.0], metadata={"pair": True})
    fov_deg: list[float] = field(default_factory=lambda: [40.0, 70.0], metadata={"pair": True, "gt": 0, "lt": 180})


@dataclass
class TrainConfig:
    """steps: total optimisation steps of stages 1 + 2. animate_from: fraction of the steps after which stage 2
    (a new pose every step) starts; ignored with `static`. canonical_prob: in stage 2, chance of the canonical pose."""

    steps: int = field(default=1200, metadata={"min": 1})
    static: bool = False
    animate_from: float = field(default=0.5, metadata={"min": 0, "max": 1})
    canonical_prob: float = field(default=0.2, metadata={"min": 0, "max": 1})
    batch: int = field(default=1, metadata={"min": 1})
    # rendered pixels (the prior resamples to its own size); its memory is checked with batch and ray_step
    resolution: int = field(default=64, metadata={"min": 8})
    ray_step: float = field(default=0.01, metadata={"gt": 0})  # metres between samples of body-guided sampling
    freeze_prior: bool = True  # on CPU, run the prior's denoiser as a frozen trace (dreamavatar/train/frozen.py)
    # steps between measurements of the density's extent (dreamavatar/field/extent.py); samples go only within it
    # (+ 3.7 cm) of the body; 0: everywhere within the density weight's reach
    occupancy_every: int = field(default=16, metadata={"min": 0})
    lr: float = field(default=1e-3, metadata={"min": 0})  # MLPs (canonical, delta, background)
    grid_lr: float = field(default=1e-2, metadata={"min": 0})  # hash grid
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99], metadata={"length": 2, "min": 0, "lt": 1})
    # "mlp" (learned, of the ray direction) | "prior" (the prior's plain training colour)
    background: str = field(default="mlp", metadata={"choices": BACKGROUNDS})
    # the avatar's rendering on CUDA: fp32 | bf16 | fp16 (autocast)
    precision: str = field(default="fp32", metadata={"choices": PRECISIONS})
    # > 0: skip samples behind a transmittance below it (memory and time at large renders)
    early_stop: float = field(default=0.0, metadata={"min": 0, "lt": 1})
    checkpoint_every: int = field(default=100, metadata={"min": 1})
    preview_every: int = field(default=200, metadata={"min": 0})  # 0: no previews during training
    preview_size: int = field(default=96, metadata={"min": 8, "render_size": True})
    turntable_frames: int = field(default=48, metadata={"min": 1})
    turntable_size: int = field(default=128, metadata={"min": 8, "render_size": True})
    cameras: CameraConfig = field(default_factory=CameraConfig)


@dataclass
class ShapeConfig:
    """The body-silhouette terms (`dreamavatar.train.shape`). inside / outside: weights of the two terms (0 turns a
    term off); *_schedule: [start_step, start_value, end_value, end_step] overriding the weight (steps <= 1 are
    fractions of train.steps). margin: metres of free band around the body's silhouette where the outside term does
    not apply."""

    inside: float = field(default=0.0, metadata={"min": 0})
    outside: float = field(default=0.0, metadata={"min": 0})
    margin: float = field(default=0.02, metadata={"min": 0})
    inside_schedule: Optional[list[float]] = field(default=None, metadata={"length": 4})
    outside_schedule: Optional[list[float]] = field(default=None, metadata={"length": 4})

    def weights(self, step: int) -> tuple[float, float]:
        return (scheduled_value(self.inside, self.inside_schedule, step),
                scheduled_value(self.outside, self.outside_schedule, step))  # fmt: skip


@dataclass
class GenerateConfig:
    """spec: the outfit and body the prompt asks for (`prompts.spec`; `generate` parses the prompt once, or reads
    --spec FILE); its body shapes anny on every path (stage 0, training, animate, compose, export). A config.yaml
    written before the spec existed reads as the default spec, the body those runs had."""

    prompt: str = ""
    spec: Spec = field(default_factory=Spec)
    preset: str = field(default="tiny", metadata={"choices": PRESETS})
    prior: PriorConfig = field(default_factory=PriorConfig)  # guidance_type tiny | stable-diffusion, + guidance.*
    body: str = field(default="anny", metadata={"choices": BODY_NAMES})
    smpl_dir: Optional[str] = None
    seed: int = 0
    device: str = field(default="auto", metadata={"choices": DEVICES, "pattern": r"cuda:\d+"})  # or cuda:N
    train: TrainConfig = field(default_factory=TrainConfig)
    sds: SDSConfig = field(default_factory=SDSConfig)
    shape: ShapeConfig = field(default_factory=ShapeConfig)
    avatar: AvatarConfig = field(default_factory=AvatarConfig)
    init: InitConfig = field(default_factory=InitConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)


def preset_files(name: str) -> list[Path]:
    """The YAML files of a preset, its base's first."""
    from dreamavatar.errors import UserError

    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    base = PRESET_BASE.get(name)
    return (preset_files(base) if base else []) + [CONFIG_DIR / f"{name}.yaml"]


def apply_vram(cfg: GenerateConfig, gb: int, steps_given: bool = False) -> GenerateConfig:
    """Fit a Stable Diffusion config to `gb` GB of GPU memory (`VRAM_PRESETS`); `steps_given`: the user fixed
    train.steps, which then stays."""
    from dreamavatar.errors import UserError

    if gb not in VRAM_PRESETS:
        raise UserError(f"--vram {gb}: use one of {', '.join(map(str, sorted(VRAM_PRESETS)))} (GB of GPU memory)")
    if cfg.prior.is_tiny:
        raise UserError("--vram sizes the Stable Diffusion presets: give --prior PATH_OR_HUB_ID, or drop --vram")
    vram = VRAM_PRESETS[gb]
    batch = min(cfg.train.batch, vram.max_batch)
    if not steps_given:
        cfg.train.steps = cfg.train.steps * cfg.train.batch // batch
    cfg.train.batch = batch
    cfg.prior.guidance = {**cfg.prior.guidance, **dict(vram.guidance)}
    return cfg


def upgrade_prior_keys(data: dict) -> dict:
    """A config mapping in the layout before the prior section (`prior: tiny|MODEL`, `controlnet: ...`) -> the
    current one; anything else is returned as it is."""
    if not isinstance(data.get("prior"), str) and "controlnet" not in data:
        return data
    data = dict(data)
    spec, controlnet = data.pop("prior", None), data.pop("controlnet", None)
    section = dict(data.get("prior") or {}) if not isinstance(spec, str) else {}
    if isinstance(spec, str):
        new = PriorConfig.from_spec(spec)
        section = {"guidance_type": new.guidance_type, "guidance": dict(new.guidance)}
    if controlnet is not None:
        section["guidance"] = {**section.get("guidance", {}), "controlnet": controlnet}
    if section:
        data["prior"] = section
    return data


def load_generate_config(
    yaml_files: list[str | Path] = (), overrides: list[str] = (), spec: Optional[Spec] = None,
    flags: Optional[dict] = None, what: str = "config file",
) -> GenerateConfig:
    """Defaults <- YAML files (a run's config.yaml, presets, user files) <- the spec <- the command's own options
    (`flags`, a nested mapping: strings stay exactly as typed) <- `key=value` overrides (`spec.body.height=0.7` edits
    the parsed spec); the spec is checked (`Spec.validate`), and every choice and range (`check_generate`)."""
    from dreamavatar.config import load_config

    layers = [{"spec": spec.to_dict()}] if spec is not None else []
    layers += [flags] if flags else []
    cfg = load_config(GenerateConfig, list(yaml_files), list(overrides), upgrade=upgrade_prior_keys, layers=layers,
                      what=what)  # fmt: skip
    cfg.spec.validate()
    check_generate(cfg)
    return cfg


def build_config(
    preset: str, overrides: list[str] = (), yaml_files: list[str] = (), spec: Optional[Spec] = None,
    flags: Optional[dict] = None,
) -> GenerateConfig:
    """Defaults <- preset YAML <- user YAML files <- the spec <- `flags` <- `key=value` overrides."""
    cfg = load_generate_config([*preset_files(preset), *yaml_files], list(overrides), spec, flags)
    cfg.preset = preset
    return cfg


def check_generate(cfg: GenerateConfig) -> None:
    """What a field's own declaration cannot say: the prior's options (checked against its kind) and settings that
    depend on each other."""
    from dreamavatar.config import check_fields
    from dreamavatar.errors import UserError
    from renderers.memory import check_render_size

    check_fields(cfg.prior.options(), "prior.guidance.")
    if cfg.smpl_dir and cfg.body != "smpl":
        raise UserError(f"an SMPL folder is given but the body is {cfg.body}: add --body smpl, or drop --smpl-dir")
    t = cfg.train
    check_render_size(t.resolution, t.resolution, "train.resolution", "train", t.batch, t.ray_step, cfg.device)
