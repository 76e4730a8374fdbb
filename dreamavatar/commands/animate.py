"""`dreamavatar animate RUN_DIR --motion FILE_OR_BUILTIN`: a video of the avatar performing a motion."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("animate", help="render an avatar performing a motion to mp4", description=__doc__)
    p.add_argument("run_dir", help="the --out folder of a `dreamavatar generate` run")
    p.add_argument("--motion", required=True, help="a built-in motion (see `dreamavatar motions`) or a motion file")
    p.add_argument("--fps", type=float, default=None, help="frame rate of a motion file that records none (default 30)")
    p.add_argument("--camera", choices=("fixed", "orbit"), default="fixed",
                   help="fixed: a level camera at --view that follows the body; orbit: one turn over the clip")
    p.add_argument("--view", choices=("front", "side", "back"), default="front", help="azimuth of the fixed camera")
    p.add_argument("--frames", default=None, metavar="A:B", help="half-open frame range, e.g. 0:16")
    p.add_argument("--size", type=int, default=256, help="pixels per panel, a multiple of 16 (default 256)")
    p.add_argument("--skeleton", action="store_true", help="put the skeleton condition image beside each frame")
    p.add_argument("--bake", type=float, default=0.01, metavar="METRES",
                   help="bake the canonical field to a grid of this cell size for speed (0: off; default 0.01)")
    p.add_argument("--out", default=None, help="output .mp4 (default RUN_DIR/animate-<motion>.mp4)")
    p.set_defaults(func=run)


def check_size(size: int) -> None:
    from dreamavatar.errors import UserError

    if size < 16 or size % 16:
        raise UserError(f"--size {size} is not a positive multiple of 16: use e.g. 256 or 512")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dreamavatar.animation import render_motion
    from dreamavatar.avatar import load_avatar
    from dreamavatar.motion import load_motion
    from renderers.video import write_video

    check_size(args.size)
    loaded = load_avatar(args.run_dir, bake=args.bake)
    motion = load_motion(args.motion, fps=args.fps)
    if args.frames:
        motion = motion.frames(args.frames)
    out = Path(args.out) if args.out else Path(args.run_dir) / f"animate-{Path(str(motion.name)).stem}.mp4"
    frames = render_motion(loaded, motion, args.size, camera=args.camera, view=args.view, skeleton=args.skeleton)
    write_video(out, frames, fps=motion.fps)
    print(out)
    return 0
