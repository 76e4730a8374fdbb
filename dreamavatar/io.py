"""Atomic file writes: a reader (or a resumed run) never sees half a file. Every file dreamavatar writes goes through
these (the rename-into-place rule itself is `renderers.io.atomic_path`, which the video writer uses too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

from renderers.io import atomic_path

if TYPE_CHECKING:
    import numpy as np


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call `write(f)` on a binary file beside `path`, then rename it over `path`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
    return Path(path)


def atomic_torch_save(obj: object, path: str | Path) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_json(obj: object, path: str | Path) -> Path:
    return atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def atomic_image(img: np.ndarray, path: str | Path) -> Path:
    """Write an H x W x 3 uint8 image (PNG/JPEG by the path's suffix)."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(img).save(tmp)
    return Path(path)


__all__ = ["atomic_path", "atomic_write", "atomic_torch_save", "atomic_json", "atomic_image"]
