"""Rendering an avatar through a motion: one frame per motion frame, optionally beside its skeleton image."""

from __future__ import annotations

import sys
from typing import Iterator

import numpy as np
import torch

from dreamavatar.avatar import LoadedAvatar
from dreamavatar.motion import Motion
from dreamavatar.images import side_by_side, to_uint8


def motion_cameras(loaded: LoadedAvatar, motion: Motion, size: int, camera: str = "fixed", view: str = "front"):
    """One level camera per frame framing the body: the view's azimuth ("fixed") or a full turn ("orbit"), following
    the root translation horizontally."""
    from dreamavatar.condition import view_cameras

    return view_cameras("orbit" if camera == "orbit" else view, size, loaded.height, loaded.center_y,
                        transl=motion.transl)  # fmt: skip


def render_motion(
    loaded: LoadedAvatar,
    motion: Motion,
    size: int,
    camera: str = "fixed",
    view: str = "front",
    skeleton: bool = False,
    progress: bool = True,
) -> Iterator[np.ndarray]:
    """Yield H x W x 3 uint8 frames (W doubled with `skeleton`) of the avatar performing `motion`."""
    from tqdm import tqdm

    from dreamavatar.condition import render_condition

    cams = motion_cameras(loaded, motion, size, camera, view)
    for f in tqdm(range(len(motion)), desc="animate", file=sys.stderr, disable=not progress, ascii=True):
        out = loaded.pose(motion.poses[f : f + 1], motion.transl[f : f + 1])
        with torch.no_grad():
            rgb = loaded.render(out, cams[f])["rgb"][0]
            if skeleton:
                rgb = side_by_side([rgb, render_condition(cams[f], out)[0][0]])
        yield to_uint8(rgb)
