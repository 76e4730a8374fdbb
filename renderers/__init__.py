"""Cameras, rays, samplers, volume rendering, OpenPose skeleton images and video writing (pure PyTorch reference)."""
