"""The face options shared by animate, export and face-curves (light: parsed before anything heavy is imported)."""

from __future__ import annotations

import argparse

from dreamavatar.face import FACE_FILES


def add_face_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("face (speech, text, emotion, face capture)")
    g.add_argument("--speech", default=None, metavar="FILE", help="drive the face with this recording (wav/mp3/flac)")
    g.add_argument("--transcript", default=None, metavar="TEXT",
                   help="the words of --speech: aligned instead of recognised (better timing)")
    g.add_argument("--say", default=None, metavar="TEXT", help="speak this text (espeak-ng) and drive the face with it")
    g.add_argument("--emotion", default=None, metavar="NAME[:INTENSITY]",
                   help="neutral, happy, sad, angry, surprised, fearful or disgusted; intensity 0..1 (default 1)")
    g.add_argument("--face", default=None, metavar="FILE", help=f"face curves: {FACE_FILES}")
    g.add_argument("--seed", type=int, default=0, help="blink timing of a speech-driven face")


def inputs_from_args(args: argparse.Namespace):
    """The checked `dreamavatar.face.inputs.FaceInputs` of parsed options."""
    from dreamavatar.face.inputs import FaceInputs

    inputs = FaceInputs(args.speech, args.transcript, args.say, args.emotion, args.face, args.seed)
    inputs.check()
    return inputs
