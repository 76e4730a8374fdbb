"""How much memory a render needs, estimated before it starts: a size that cannot fit is refused with a message
instead of an allocation of hundreds of GiB.

The per-pixel figures were measured (peak resident memory against image size, CPU, tiny preset):
    image: 53 B/px drawing a skeleton condition image (`dreamavatar skeleton --size 4096`), 28 B/px rendering the
           avatar (`animate --size 2048`, chunked rays): 64 B/px covers both.
    train: 27 KB/px for one training render with its autograd graph at 1.2 cm between samples
           (`generate train.resolution=128` against 32); it grows with the number of samples per ray.
"""

from __future__ import annotations

import os

from renderers.errors import RenderError

IMAGE_BYTES_PER_PIXEL = 64
TRAIN_BYTES_PER_PIXEL = 32 * 1024  # at TRAIN_RAY_STEP metres between samples
TRAIN_RAY_STEP = 0.012
BASE_BYTES = 1 << 30  # models, body, motion and the interpreter, measured at about 0.6 GiB


def memory_limit(device: str = "cpu") -> int:
    """Bytes a render may use: the machine's physical memory (not what is free now, so the answer does not depend on
    what else runs), or the GPU's for a CUDA device."""
    if str(device).startswith("cuda") or device == "auto":
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.mem_get_info()[1])
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a modest machine
        return 16 << 30


def render_bytes(width: int, height: int, kind: str = "image", batch: int = 1, ray_step: float = TRAIN_RAY_STEP) -> int:
    """Estimated peak bytes of rendering `batch` images of width x height ("image": inference; "train": with the
    autograd graph of a training step)."""
    if kind == "train":
        per_pixel = TRAIN_BYTES_PER_PIXEL * TRAIN_RAY_STEP / max(ray_step, 1e-6)
        return int(BASE_BYTES + width * height * batch * per_pixel)
    return int(BASE_BYTES + width * height * batch * IMAGE_BYTES_PER_PIXEL)


def check_render_size(
    width: int, height: int, what: str, kind: str = "image", batch: int = 1, ray_step: float = TRAIN_RAY_STEP,
    device: str = "cpu", multiple: int = 1, panels: int = 1,
) -> None:
    """Refuse a size below 1 (or not a multiple of `multiple`) or one whose render (`panels` images of the size side
    by side) cannot fit in memory, naming the largest that can."""
    if width < multiple or height < multiple or width % multiple or height % multiple:
        unit = f"a positive multiple of {multiple}" if multiple > 1 else "a positive number of pixels"
        size = f"{width}" if width == height else f"{width} x {height}"
        raise RenderError(f"{what} {size} is not {unit}: use e.g. 256")
    need, limit = render_bytes(width * panels, height, kind, batch, ray_step), memory_limit(device)
    if need > limit:
        per_pixel = render_bytes(1, 1, kind, batch, ray_step) - BASE_BYTES or 1
        scale = max((limit - BASE_BYTES) / per_pixel / (width * panels * height), 0.0) ** 0.5
        w, h = (max(multiple, int(s * scale) // multiple * multiple) for s in (width, height))
        size = f"{width}" if width == height else f"{width} x {height}"
        most = f"{w}" if width == height else f"{w} x {h}"
        raise RenderError(
            f"{what} {size} needs about {need / 2**30:.0f} GiB to render, more than the {limit / 2**30:.0f} GiB "
            f"here: use at most about {most}"
        )
