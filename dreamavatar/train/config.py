"""The typed config of `dreamavatar generate`: presets (YAML in dreamavatar/configs/) + `key=value` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from dreamavatar.field.avatar import AvatarConfig
from dreamavatar.field.background import BackgroundConfig
from dreamavatar.field.init import InitConfig
from dreamavatar.train.shape import ShapeConfig
from priors.sds import SDSConfig

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
PRESETS = ("tiny", "sd15")


@dataclass
class CameraConfig:
    """Random training cameras, uniform in each range (DESIGN.md); they look at the body's vertical centre."""

    radius: list[float] = field(default_factory=lambda: [1.0, 2.0])
    polar_deg: list[float] = field(default_factory=lambda: [60.0, 120.0])
    azimuth_deg: list[float] = field(default_factory=lambda: [0.0, 360.0])
    fov_deg: list[float] = field(default_factory=lambda: [40.0, 70.0])


@dataclass
class TrainConfig:
    """steps: total optimisation steps of stages 1 + 2. animate_from: fraction of the steps after which stage 2
    (a new pose every step) starts; ignored with `static`. canonical_prob: in stage 2, chance of the canonical pose."""

    steps: int = 1200
    static: bool = False
    animate_from: float = 0.5
    canonical_prob: float = 0.2
    batch: int = 1
    resolution: int = 64  # rendered pixels (the prior resamples to its own size)
    ray_step: float = 0.01  # metres between samples of body-guided sampling
    lr: float = 1e-3  # MLPs (canonical, delta, background)
    grid_lr: float = 1e-2  # hash grid
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    background: str = "mlp"  # "mlp" (learned, of the ray direction) | "prior" (the prior's plain training colour)
    checkpoint_every: int = 100
    preview_every: int = 200
    preview_size: int = 96
    turntable_frames: int = 48
    turntable_size: int = 128
    cameras: CameraConfig = field(default_factory=CameraConfig)


@dataclass
class GenerateConfig:
    prompt: str = ""
    preset: str = "tiny"
    prior: str = "tiny"  # "tiny" | a Stable Diffusion folder or hub id
    controlnet: Optional[str] = None  # an openpose ControlNet folder or hub id when `prior` is a bare SD base
    body: str = "anny"
    smpl_dir: Optional[str] = None
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    train: TrainConfig = field(default_factory=TrainConfig)
    sds: SDSConfig = field(default_factory=SDSConfig)
    shape: ShapeConfig = field(default_factory=ShapeConfig)
    avatar: AvatarConfig = field(default_factory=AvatarConfig)
    init: InitConfig = field(default_factory=InitConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)


def preset_file(name: str) -> Path:
    from dreamavatar.errors import UserError

    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    return CONFIG_DIR / f"{name}.yaml"


def build_config(preset: str, overrides: list[str] = (), yaml_files: list[str] = ()) -> GenerateConfig:
    """Defaults <- preset YAML <- user YAML files <- `key=value` overrides."""
    from dreamavatar.config import load_config

    cfg = load_config(GenerateConfig, [preset_file(preset), *yaml_files], list(overrides))
    cfg.preset = preset
    return cfg
