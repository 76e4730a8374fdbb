"""Pose-conditioned diffusion priors (Stable Diffusion + ControlNet, the embedded tiny prior) and score distillation.

The one way in is `load_prior(PriorConfig(...))`, in the manner of threestudio's `guidance_type` + `guidance`:

    guidance_type: "tiny" | "stable-diffusion"
    guidance:      that prior's options, checked against its config dataclass (`TinyOptions` or
                   `priors.stable_diffusion.StableDiffusionConfig`: model, controlnet, dtype, cpu_offload,
                   controlnet_scale, ...); an unknown option fails with a message that lists the known ones.

`PriorConfig.from_spec("tiny" | PATH_OR_HUB_ID)` is the command line's `--prior`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional

from priors.errors import PriorError

GUIDANCE_TYPES = ("tiny", "stable-diffusion")


@dataclass
class TinyOptions:
    """weights: a folder holding config.json + tiny_prior.safetensors (None: the weights shipped in the package)."""

    weights: Optional[str] = None


@dataclass
class PriorConfig:
    """Which prior and its options (see the module docstring). `guidance` is a plain mapping so one config file can
    hold the options of either kind; `options()` checks it against the chosen kind's dataclass."""

    guidance_type: str = field(default="tiny", metadata={"choices": GUIDANCE_TYPES})  # checked by dreamavatar.config
    guidance: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_spec(spec: str, **guidance: Any) -> "PriorConfig":
        """"tiny" for the embedded prior, anything else a Stable Diffusion folder or hub id (`--prior`)."""
        if spec == "tiny":
            return PriorConfig("tiny", dict(guidance))
        return PriorConfig("stable-diffusion", {"model": spec, **guidance})

    @property
    def is_tiny(self) -> bool:
        return self.guidance_type == "tiny"

    def options(self):
        """The guidance options as the chosen kind's typed config (`TinyOptions` or `StableDiffusionConfig`)."""
        if self.guidance_type == "tiny":
            cls = TinyOptions
        elif self.guidance_type == "stable-diffusion":
            from priors.stable_diffusion import StableDiffusionConfig as cls
        else:
            kinds = ", ".join(GUIDANCE_TYPES)
            raise PriorError(f"unknown prior guidance_type {self.guidance_type!r}: use one of {kinds}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(self.guidance) - set(known))
        if unknown:
            raise PriorError(
                f"unknown option(s) {', '.join(unknown)} for the {self.guidance_type} prior: use "
                f"{', '.join(known)} (prior.guidance.KEY=VALUE)"
            )
        return cls(**dict(self.guidance))

    @property
    def name(self) -> str:
        """What a person calls this prior: "tiny" (or its weights folder), or the Stable Diffusion model."""
        opts = self.options()
        if self.is_tiny:
            return "tiny" if opts.weights is None else opts.weights
        return opts.model


def load_prior(cfg: PriorConfig | str = "tiny"):
    """The configured prior (a `priors.base.PosePrior`), on the device its options name (the tiny prior: CPU).
    A string is read as `PriorConfig.from_spec`."""
    cfg = PriorConfig.from_spec(cfg) if isinstance(cfg, str) else cfg
    opts = cfg.options()
    if cfg.is_tiny:
        try:
            from priors.tiny import load_tiny_prior
        except ImportError as e:
            raise PriorError(f"the embedded tiny prior is not available ({e}): reinstall dreamavatar") from None
        return load_tiny_prior(opts.weights)
    from priors.stable_diffusion import StableDiffusionPrior

    return StableDiffusionPrior(opts)


__all__ = ["GUIDANCE_TYPES", "PriorConfig", "TinyOptions", "load_prior"]
