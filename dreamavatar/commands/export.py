"""`dreamavatar export RUN_DIR --format glb|obj|ply`: the avatar as a mesh, a rigged glTF (with an optional
embedded motion), or a numbered per-frame mesh sequence."""

from __future__ import annotations

import argparse

from dreamavatar.commands.face_options import add_face_arguments

FORMATS = ("glb", "obj", "ply")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the avatar as glb/obj/ply, optionally rigged and animated",
                       description=__doc__)  # fmt: skip
    p.add_argument("run_dir", help="the --out folder of a `dreamavatar generate` run")
    p.add_argument("--format", choices=FORMATS, default="glb")
    p.add_argument("--rigged", action="store_true", help="glb: add the 24-joint skeleton and skin weights")
    p.add_argument("--motion", default=None,
                   help="glb: embed this motion as an animation; obj/ply: write one posed mesh per frame")
    p.add_argument("--fps", type=float, default=None, help="frame rate of a motion file that records none (default 30)")
    p.add_argument("--frames", default=None, metavar="A:B", help="half-open frame range of the motion")
    p.add_argument("--resolution", type=int, default=192, help="marching-cubes grid resolution")
    p.add_argument("--threshold", type=float, default=None, help="density iso-level (default: the level whose mesh silhouettes best match the renders)")
    p.add_argument("--out", default=None, help="output file (default RUN_DIR/avatar.<format>)")
    add_face_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dreamavatar.avatar import load_avatar
    from dreamavatar.errors import UserError
    from dreamavatar.export.avatar_export import (
        export_glb,
        export_sequence,
        export_static,
        extract_avatar_mesh,
        motion_joint_transforms,
        motion_morphs,
    )
    from dreamavatar.commands.face_options import inputs_from_args
    from dreamavatar.export.mesh import MeshConfig

    out = Path(args.out) if args.out else Path(args.run_dir) / f"avatar.{args.format}"
    if out.suffix.lower() != f".{args.format}":
        raise UserError(f"--out {out} does not end in .{args.format}: name the file to match --format")
    if args.rigged and args.format != "glb":
        raise UserError("--rigged needs --format glb (OBJ and PLY carry no skeleton): use --format glb")
    face = inputs_from_args(args)
    loaded = load_avatar(args.run_dir)
    cfg = MeshConfig(resolution=args.resolution)
    if args.threshold is not None:
        cfg.threshold = args.threshold
    mesh = extract_avatar_mesh(loaded, cfg)
    transforms, fps, name, morph = None, 30.0, "motion", None
    if args.motion or face.any():
        from dreamavatar.face.inputs import apply_face
        from dreamavatar.motion import load_motion, still_motion

        # a face without a body motion: the avatar holds its bind pose (the canonical A-pose) while it talks
        motion = load_motion(args.motion, fps=args.fps) if args.motion else still_motion("face")
        motion, _ = apply_face(motion, face)
        if args.frames:
            motion = motion.frames(args.frames)
        transforms, fps, name = motion_joint_transforms(loaded, motion), motion.fps, str(motion.name)
        morph = motion_morphs(loaded, mesh, motion)
    if args.format == "glb":
        print(export_glb(mesh, out, args.rigged, transforms, fps, name, morph))
    elif transforms is not None:
        for p in export_sequence(mesh, out, transforms, morph):
            print(p)
    else:
        print(export_static(mesh, out))
    return 0
