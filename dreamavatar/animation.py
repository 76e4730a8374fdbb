"""Rendering an avatar through a motion: one frame per motion frame, optionally beside its skeleton image."""

from __future__ import annotations

import sys
from typing import Iterator

import numpy as np
import torch

from dreamavatar.avatar import LoadedAvatar
from dreamavatar.motion import Motion
from dreamavatar.images import side_by_side, to_uint8


CAMERAS = ("fixed", "orbit", "portrait")
PORTRAIT_HEIGHT = 0.5  # metres of the body a portrait frame shows: head and shoulders
PORTRAIT_FOV = 30.0


def head_targets(loaded: LoadedAvatar, motion: Motion, smoothing: float = 0.25) -> torch.Tensor:
    """Where a portrait camera looks in each frame: F x 3, a little under the head joint (the face and the shoulders
    below it in view), smoothed over `smoothing` seconds so the camera follows the head without shaking."""
    from dreamavatar.body.face import HEAD
    from dreamavatar.face.prosody import smooth

    heads = []
    for s in range(0, len(motion), 64):
        out = loaded.pose(motion.poses[s : s + 64], motion.transl[s : s + 64], motion.face_pose(s, s + 64))
        heads.append(out.joints[:, HEAD].float())
    target = torch.cat(heads) - torch.tensor([0.0, 0.06, 0.0])
    return torch.from_numpy(smooth(target.double().numpy(), motion.fps, smoothing)).float()


def motion_cameras(loaded: LoadedAvatar, motion: Motion, size: int, camera: str = "fixed", view: str = "front"):
    """One level camera per frame: the view's azimuth ("fixed") or a full turn ("orbit") framing the whole body and
    following the root translation horizontally, or a head-and-shoulders "portrait" from the view's azimuth that
    follows the head."""
    from dreamavatar.condition import FramingConfig, framing_radius, view_azimuths, view_cameras
    from renderers.cameras import orbit_cameras

    if camera == "portrait":
        framing = FramingConfig(fov_deg=PORTRAIT_FOV, fill=1.0)
        azimuth = view_azimuths(view, len(motion))
        return orbit_cameras(framing_radius(PORTRAIT_HEIGHT, framing), 90.0, azimuth, PORTRAIT_FOV, size,
                             head_targets(loaded, motion))  # fmt: skip
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
    """Yield H x W x 3 uint8 frames (W doubled with `skeleton`) of the avatar performing `motion` (with its face
    track, if it has one)."""
    from tqdm import tqdm

    from dreamavatar.condition import render_condition

    cams = motion_cameras(loaded, motion, size, camera, view)
    for f in tqdm(range(len(motion)), desc="animate", file=sys.stderr, disable=not progress, ascii=True):
        out = loaded.pose(motion.poses[f : f + 1], motion.transl[f : f + 1], motion.face_pose(f))
        with torch.no_grad():
            rgb = loaded.render(out, cams[f])["rgb"][0]
            if skeleton:
                rgb = side_by_side([rgb, render_condition(cams[f], out)[0][0]])
        yield to_uint8(rgb)
