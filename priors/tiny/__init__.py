"""The embedded tiny prior: a small pose-conditioned pixel-space diffusion model trained by this project."""

from priors.tiny.prior import TinyPrior, TinyPriorConfig, load_tiny_prior, sample_batch, save_tiny_prior

__all__ = ["TinyPrior", "TinyPriorConfig", "load_tiny_prior", "sample_batch", "save_tiny_prior"]
