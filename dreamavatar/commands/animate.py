"""`dreamavatar animate RUN_DIR --motion FILE_OR_BUILTIN`: a video of the avatar performing a motion; with --speech,
--say, --emotion or --face its face moves too (speech also goes into the video's sound track)."""

from __future__ import annotations

import argparse

from dreamavatar.commands.face_options import add_face_arguments


def register(sub: argparse._SubParsersAction) -> None:
    from dreamavatar.commands import FPS_HELP

    p = sub.add_parser("animate", help="render an avatar performing a motion to mp4", description=__doc__)
    p.add_argument("run_dir", help="the --out folder of a `dreamavatar generate` run")
    p.add_argument("--motion", default=None,
                   help="a built-in motion (see `dreamavatar motions`) or a motion file (default with a face input: idle)")
    p.add_argument("--fps", type=float, default=None, help=FPS_HELP)
    p.add_argument("--camera", choices=("fixed", "orbit", "portrait"), default="fixed",
                   help="fixed: a level camera at --view that follows the body; orbit: one turn over the clip; "
                        "portrait: head and shoulders from --view, following the head")
    p.add_argument("--view", choices=("front", "side", "back"), default="front", help="azimuth of the fixed camera")
    p.add_argument("--frames", default=None, metavar="A:B", help="half-open frame range, e.g. 0:16")
    p.add_argument("--size", type=int, default=256, help="pixels per panel, a multiple of 16 (default 256)")
    p.add_argument("--skeleton", action="store_true", help="put the skeleton condition image beside each frame")
    p.add_argument("--bake", type=float, default=0.01, metavar="METRES",
                   help="bake the canonical field to a grid of this cell size for speed (0: off; default 0.01)")
    p.add_argument("--out", default=None, help="output .mp4 or .gif (default RUN_DIR/animate-<motion>.mp4)")
    add_face_arguments(p)
    p.set_defaults(func=run)


def check_size(size: int, panels: int = 1) -> None:
    """A panel size: a positive multiple of 16 whose frame (`panels` side by side) fits in memory."""
    from renderers.memory import check_render_size

    check_render_size(size, size, "--size", multiple=16, panels=panels)


def check_bake(bake: float, what: str = "--bake") -> None:
    from dreamavatar.errors import UserError

    if not bake >= 0:
        raise UserError(f"{what} {bake} is negative: give a grid cell in metres (e.g. 0.01), or 0 for no baking")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dreamavatar.animation import render_motion
    from dreamavatar.avatar import load_avatar
    from dreamavatar.commands.face_options import inputs_from_args
    from dreamavatar.errors import UserError
    from dreamavatar.face.inputs import apply_face
    from dreamavatar.io import check_output_file
    from dreamavatar.motion import load_motion, parse_frame_range
    from dreamavatar.run_dir import open_run
    from renderers.video import VIDEO_EXTENSIONS, write_video

    check_size(args.size, 2 if args.skeleton else 1)
    check_bake(args.bake)
    face = inputs_from_args(args)
    if args.motion is None and not face.any():
        raise UserError("give --motion (a built-in name or a file), or a face input (--speech, --say, --face)")
    if args.out is not None:
        check_output_file(args.out, VIDEO_EXTENSIONS)  # before anything is read or rendered
    open_run(args.run_dir)  # a wrong folder is named before the motion and face inputs are worked out
    motion = load_motion(args.motion or "idle", fps=args.fps)
    motion, sound = apply_face(motion, face)
    start = 0
    if args.frames:
        start = range(len(motion))[slice(*parse_frame_range(args.frames))].start
        motion = motion.frames(args.frames)
    out = Path(args.out) if args.out else Path(args.run_dir) / f"animate-{Path(str(motion.name)).stem}.mp4"
    check_output_file(out, VIDEO_EXTENSIONS)  # before rendering a single frame
    loaded = load_avatar(args.run_dir, bake=args.bake)
    frames = render_motion(loaded, motion, args.size, camera=args.camera, view=args.view, skeleton=args.skeleton)
    audio = None if sound is None else (sound.samples[int(round(start / motion.fps * sound.rate)) :], sound.rate)
    write_video(out, frames, fps=motion.fps, audio=audio)
    print(out)
    return 0
