"""`dreamavatar skeleton`: render a motion's OpenPose condition images (with occlusion) to a video."""

from __future__ import annotations

import argparse
import sys

from dreamavatar.errors import UserError

BATCH = 16  # frames posed and drawn together


def register(subparsers: argparse._SubParsersAction) -> None:
    from dreamavatar.commands import FPS_HELP

    p = subparsers.add_parser(
        "skeleton",
        help="render a motion's OpenPose skeleton (condition images) to a video",
        description="Render the occlusion-aware OpenPose skeleton of a body driven by a motion to an mp4 or gif.",
    )
    p.add_argument("--motion", required=True, help="a built-in motion name (see `dreamavatar motions`) or a file")
    p.add_argument("--view", default="front", choices=("front", "side", "back", "orbit"), help="camera (default front)")
    p.add_argument("--size", type=int, default=512, help="image size in pixels, a multiple of 16 (default 512)")
    p.add_argument("--frames", default=None, metavar="A:B", help="half-open frame range after resampling, e.g. 0:60")
    p.add_argument("--fps", type=float, default=None, help=FPS_HELP)
    p.add_argument("--out-fps", type=float, default=None, help="video frame rate (default: the motion's)")
    p.add_argument("--body", default="anny", choices=("anny", "smpl"), help="body model (default anny)")
    p.add_argument("--smpl-dir", default=None, help="folder with your SMPL model files (for --body smpl)")
    p.add_argument("--out", required=True, help="output video, .mp4 (H.264) or .gif")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from renderers.memory import check_render_size

    check_render_size(args.size, args.size, "--size", multiple=16)
    for name in ("fps", "out_fps"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise UserError(f"--{name.replace('_', '-')} {value} is not positive: give a frame rate such as 30")
    if args.smpl_dir is not None and args.body != "smpl":
        raise UserError("--smpl-dir is for the SMPL body: add --body smpl, or drop --smpl-dir")


def _load_motion(args: argparse.Namespace):
    from dreamavatar.motion import load_motion

    motion = load_motion(args.motion, fps=args.fps)
    if args.out_fps is not None:
        motion = motion.resample(args.out_fps)
    if args.frames is not None:
        motion = motion.frames(args.frames)
    return motion


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    from dreamavatar.io import check_output_file
    from renderers.video import VIDEO_EXTENSIONS

    out = check_output_file(args.out, VIDEO_EXTENSIONS)  # fail before any rendering
    motion = _load_motion(args)

    import numpy as np
    import torch
    from tqdm import tqdm

    from dreamavatar.body import load_body
    from dreamavatar.condition import body_extent, render_condition, view_cameras
    from renderers.video import write_video

    body = load_body(args.body, **({"smpl_dir": args.smpl_dir} if args.smpl_dir else {}))
    height, center_y = body_extent(body)
    cams = view_cameras(args.view, args.size, height, center_y, motion.transl)

    def frames():
        with torch.no_grad(), tqdm(total=len(motion), desc="skeleton", unit="frame", file=sys.stderr) as bar:
            for a in range(0, len(motion), BATCH):
                b = min(a + BATCH, len(motion))
                images, _ = render_condition(cams[a:b], body(motion.poses[a:b], motion.transl[a:b]))
                for img in images:
                    yield (img.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
                bar.update(b - a)

    write_video(out, frames(), fps=motion.fps)
    print(out)
    return 0
