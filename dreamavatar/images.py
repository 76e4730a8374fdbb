"""Image helpers for what a person looks at (previews, video frames, `sample`'s panels): tensors -> uint8 arrays."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """C x H x W in [0, 1] -> H x W x C uint8."""
    return (img.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype("uint8")


def to_uint8_size(img: torch.Tensor, size: int) -> np.ndarray:
    """C x H x W in [0, 1] -> size x size x C uint8: nearest when enlarging (pixels stay honest), Lanczos when
    shrinking."""
    from PIL import Image

    pil = Image.fromarray(to_uint8(img))
    if pil.size != (size, size):
        pil = pil.resize((size, size), Image.NEAREST if pil.size[0] < size else Image.LANCZOS)
    return np.asarray(pil)


def side_by_side(images: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate C x H x W images horizontally (resized to the first one's height) -> C x H x sum(W)."""
    h = images[0].shape[-2]
    rs = [
        img
        if img.shape[-2] == h
        else torch.nn.functional.interpolate(
            img[None], size=(h, round(img.shape[-1] * h / img.shape[-2])), mode="nearest"
        )[0]
        for img in images
    ]
    return torch.cat(rs, -1)


__all__ = ["to_uint8", "to_uint8_size", "side_by_side"]
