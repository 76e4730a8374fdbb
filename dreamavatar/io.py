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


def cached_tensors(path: Path, build: Callable[[], dict], label: str, stale: str | None = None) -> dict:
    """A dict of tensors kept in a cache file: loaded when `path` holds it, else built, written atomically (a cache
    that cannot be written is only skipped) and other files matching the glob `stale` beside it removed. A damaged
    file is rebuilt."""
    import logging

    import torch

    log = logging.getLogger(__name__)
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as e:
            log.warning("rebuilding the %s cache %s: %s", label, path, e)
    data = build()
    try:
        atomic_torch_save(data, path)
        for old in path.parent.glob(stale) if stale else ():
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as e:
        log.info("%s cache not written (%s): building it each time", label, e)
    return data


def atomic_json(obj: object, path: str | Path) -> Path:
    return atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def atomic_image(img: np.ndarray, path: str | Path) -> Path:
    """Write an H x W x 3 uint8 image (PNG/JPEG by the path's suffix)."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(img).save(tmp)
    return Path(path)


__all__ = ["atomic_path", "atomic_write", "atomic_torch_save", "atomic_json", "atomic_image", "cached_tensors"]
