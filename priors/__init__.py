"""Pose-conditioned diffusion priors (Stable Diffusion + ControlNet, the embedded tiny prior) and score distillation."""
