"""Atomic file writes: a reader (or a resumed run) never sees half a file. Every file dreamavatar writes goes through
these (the rename-into-place rule itself is `renderers.io.atomic_path`, which the video writer uses too)."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

from renderers.io import atomic_path, is_temporary

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


# ---- output paths, checked before any work: a command that will fail to write says so first ----------------------


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_creatable(path: Path, what: str) -> None:
    """`path` (absent) can be created: its nearest existing ancestor is a folder we can create files in.
    Probes with a nameless temporary file, so nothing is left behind (root passes `os.access` everywhere, even in
    /proc, so only trying tells)."""
    from dreamavatar.errors import UserError

    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise UserError(f"{what} {path}: {base} is a file, not a folder; choose another path")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as e:
        raise UserError(f"{what} {path}: cannot write in {base} ({e.strerror or e}); choose another path") from None


def check_output_file(path: str | Path, suffixes: tuple[str, ...] = (), what: str = "--out") -> Path:
    """A file the command will write: the right extension, not a folder, in a place where files can be made."""
    from dreamavatar.errors import UserError

    path = Path(path).expanduser()
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(f"{what} {path} must end in {' or '.join(suffixes)}: name the file, e.g. out{suffixes[0]}")
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder: give a file name, e.g. {path / ('out' + (suffixes or ('',))[0])}")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UserError(f"{what} {path} exists and cannot be overwritten: choose another path")
        return path
    _check_creatable(path, what)
    return path


def check_output_dir(path: str | Path, what: str = "--out") -> Path:
    """A folder the command will create (or write into): not a file, in a place where folders can be made."""
    from dreamavatar.errors import UserError

    path = Path(path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{what} {path} is a file, not a folder: give a folder for the run")
        _check_creatable(path / "x", what)
        return path
    _check_creatable(path, what)
    return path


def clean_stale_tmp(folder: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted atomic write left under `folder` (a killed process cannot clean up
    after itself): only names `atomic_path` makes (`renderers.io.is_temporary`)."""
    removed = []
    for p in Path(folder).rglob(".*"):
        if is_temporary(p.name) and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def load_tensors(path: str | Path, what: str = "checkpoint") -> Any:
    """`torch.load` of plain tensors, numbers, strings and containers only (`weights_only=True`): a file carrying
    any other object, which could run code while unpickling, is refused, as is a truncated or foreign one."""
    import pickle

    import torch

    from dreamavatar.errors import UserError

    path = Path(path)
    unreadable = f"{what} {path} is unreadable (empty, truncated or not a torch file): delete it"
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" not in str(e).lower():
            raise UserError(unreadable) from None
        raise UserError(
            f"{what} {path} holds objects other than tensors, numbers and strings (such a file can run code when "
            "loaded), so it is not loaded: use files you made yourself, or delete it"
        ) from None
    except Exception:  # EOF, zip errors, a folder, a foreign format
        raise UserError(unreadable) from None


__all__ = ["atomic_path", "atomic_write", "atomic_torch_save", "atomic_json", "atomic_image", "cached_tensors",
           "check_output_file", "check_output_dir", "clean_stale_tmp", "load_tensors"]  # fmt: skip
