"""dreamavatar: text prompt -> animatable 3D human avatar (a skeleton-tied NeRF distilled from a diffusion prior)."""

__version__ = "0.1.0"
