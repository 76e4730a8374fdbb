#!/usr/bin/env python
"""The README's picture: finished `generate` runs side by side, one row each (front, side and back views of the
canonical avatar, then two frames of the built-in dance), with the run's prompt above its row.

    .venv/bin/python scripts/make_readme_picture.py RUN_DIR [RUN_DIR ...] [--size 128] [--out docs/preview.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DANCE_FRAMES = (40, 90)  # two frames of the built-in dance that move arms and legs apart
CAPTION_PX = 18


def avatar_row(run: Path, size: int) -> np.ndarray:
    """H x W x 3 uint8: three canonical views and two dance frames of the run's avatar."""
    from dreamavatar.animation import motion_cameras
    from dreamavatar.avatar import load_avatar
    from dreamavatar.condition import azimuth_cameras
    from dreamavatar.images import to_uint8
    from dreamavatar.motion import load_motion

    loaded = load_avatar(run, bake=0.01)
    cams = azimuth_cameras([0.0, 90.0, 180.0], size, loaded.height, loaded.center_y)
    tiles = list(loaded.render(loaded.body.canonical(), cams)["rgb"])
    dance = load_motion("dance")
    dance_cams = motion_cameras(loaded, dance, size)
    for f in DANCE_FRAMES:
        f = min(f, len(dance) - 1)
        out = loaded.pose(dance.poses[f : f + 1], dance.transl[f : f + 1], dance.face_pose(f))
        tiles.append(loaded.render(out, dance_cams[f])["rgb"][0])
    return np.concatenate([to_uint8(t) for t in tiles], axis=1)


def caption(text: str, width: int) -> np.ndarray:
    """A white strip with `text` in black, CAPTION_PX high."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, CAPTION_PX), "white")
    ImageDraw.Draw(img).text((4, 3), text, fill="black")
    return np.asarray(img)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "preview.png")
    args = ap.parse_args()
    from dreamavatar.io import atomic_image

    rows = []
    for run in args.runs:
        row = avatar_row(run, args.size)
        prompt = json.loads((run / "run.json").read_text()).get("prompt", run.name)
        rows += [caption(f'"{prompt}"', row.shape[1]), row]
    print(atomic_image(np.concatenate(rows, axis=0), args.out))


if __name__ == "__main__":
    main()
