"""`dreamavatar compose SCENE.yaml`: several avatars with their own motions (and faces, each its own speech) in one
video with their speech mixed into its sound track (format: dreamavatar/scene.py and the README)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compose", help="render several avatars with their motions into one video", description=__doc__)
    p.add_argument("scene", help="scene YAML file (see examples/scene.yaml)")
    p.add_argument("--out", default=None, help="output .mp4 or .gif (default: the scene file's name with .mp4)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dreamavatar.io import check_output_file
    from dreamavatar.scene import load_scene, render_scene_with_sound
    from renderers.video import VIDEO_EXTENSIONS, write_video

    cfg = load_scene(args.scene)
    out = check_output_file(Path(args.out) if args.out else Path(args.scene).with_suffix(".mp4"), VIDEO_EXTENSIONS)
    frames, _, audio = render_scene_with_sound(cfg)
    write_video(out, frames, fps=cfg.fps, audio=audio)
    print(out)
    return 0
