"""`dreamavatar face-curves --speech talk.wav --out curves.csv`: the face curves alone (ARKit's 52, head and eye
angles) from speech, text, an emotion or a capture, for driving another rig: a Live Link Face CSV (.csv), or the
project's own face-curve file (.json / .npz, which --face and motion files read back)."""

from __future__ import annotations

import argparse

from dreamavatar.commands.face_options import add_face_arguments

OUTPUTS = (".csv", ".json", ".npz")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("face-curves", help="write ARKit face curves from speech, text, emotion or a capture",
                       description=__doc__)  # fmt: skip
    add_face_arguments(p)
    p.add_argument("--fps", type=float, default=60.0, help="frames per second of the curves (default 60, Live Link's)")
    p.add_argument("--frames", type=int, default=None, help="length of an emotion-only clip in frames (default 1 s)")
    p.add_argument("--out", required=True, help="output file: .csv (Live Link Face layout), .json or .npz")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dreamavatar.commands.face_options import inputs_from_args
    from dreamavatar.errors import UserError
    from dreamavatar.face.inputs import build_face
    from dreamavatar.face.livelink import write_live_link
    from dreamavatar.io import check_output_file

    out = check_output_file(Path(args.out), OUTPUTS)  # .csv (Live Link Face), .json or .npz, somewhere writable
    if not args.fps > 0:
        raise UserError(f"--fps {args.fps} is not positive: give a frame rate such as 60")
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames {args.frames} is not a positive number of frames: give e.g. 60, or leave it out")
    inputs = inputs_from_args(args)
    if not inputs.any():
        raise UserError("give a face input: --speech FILE, --say TEXT, --face FILE or --emotion NAME")
    track = build_face(inputs, args.fps, frames=args.frames or int(round(args.fps))).track
    print(write_live_link(track, out) if out.suffix.lower() == ".csv" else track.save(out))
    return 0
