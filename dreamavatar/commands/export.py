"""`dreamavatar export RUN_DIR --format glb|vrm|obj|ply`: the avatar as a rigged glTF (with an optional embedded
motion), a VRM 1.0 avatar, a mesh, or a numbered per-frame mesh sequence; on the floor, y up, facing +z, in metres."""

from __future__ import annotations

import argparse

from dreamavatar.commands.face_options import add_face_arguments

FORMATS = ("glb", "vrm", "obj", "ply")


def register(sub: argparse._SubParsersAction) -> None:
    from dreamavatar.commands import FPS_HELP

    from dreamavatar.export.rig import SKELETON_NAMES

    p = sub.add_parser("export", help="export the avatar as glb/vrm/obj/ply, optionally rigged and animated",
                       description=__doc__)  # fmt: skip
    p.add_argument("run_dir", help="the --out folder of a `dreamavatar generate` run")
    p.add_argument("--format", choices=FORMATS, default="glb")
    p.add_argument("--rigged", action="store_true", help="glb: add the 24-joint skeleton and skin weights (vrm always has them)")
    p.add_argument("--motion", default=None,
                   help="glb: embed this motion as an animation; obj/ply: write one posed mesh per frame")
    p.add_argument("--fps", type=float, default=None, help=FPS_HELP)
    p.add_argument("--frames", default=None, metavar="A:B", help="half-open frame range of the motion")
    p.add_argument("--faces", type=int, default=20000, metavar="N",
                   help="decimate the mesh to about N triangles (default 20000, a game character's budget; 0: keep all)")
    p.add_argument("--texture", type=int, nargs="?", const=1024, default=0, metavar="PX",
                   help="glb/vrm: bake the colours into a PX x PX baseColor texture on xatlas UVs (default 1024) "
                        "instead of vertex colours")  # fmt: skip
    p.add_argument("--skeleton-names", choices=SKELETON_NAMES, default="mixamo",
                   help="joint names: mixamo (default: what Mixamo clips, Blender/Unity retargeting and Unity's "
                        "Humanoid auto-mapping recognise) or smpl (pelvis, left_hip, ...)")  # fmt: skip
    p.add_argument("--rest-pose", choices=("a", "t"), default=None,
                   help="glb: the bind pose, a (the canonical A-pose the avatar was made in; default) or t (T-pose); "
                        "vrm is always t")  # fmt: skip
    p.add_argument("--up", choices=("y", "z"), default=None,
                   help="obj/ply: the up axis (default y for obj, z for ply, the axes Blender's importers assume)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="vrm: a VRMC_vrm meta field, e.g. authors=Ada, commercialUsage=personalProfit, "
                        "avatarPermission=everyone (repeatable; see the README)")  # fmt: skip
    p.add_argument("--resolution", type=int, default=192,
                   help="marching-cubes grid cells along the avatar's longest side (default 192)")
    p.add_argument("--threshold", type=float, default=None, help="density iso-level (default: the level whose mesh silhouettes best match the renders)")
    p.add_argument("--out", default=None, help="output file (default RUN_DIR/avatar.<format>)")
    add_face_arguments(p)
    p.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    """Refuse option combinations that cannot work, before anything is loaded or written."""
    from pathlib import Path

    from dreamavatar.errors import UserError
    from dreamavatar.export.mesh import check_resolution

    fmt = args.format
    out = Path(args.out) if args.out else Path(args.run_dir) / f"avatar.{fmt}"
    if out.suffix.lower() != f".{fmt}":
        raise UserError(f"--out {out} does not end in .{fmt}: name the file to match --format")
    if args.rigged and fmt not in ("glb", "vrm"):
        raise UserError("--rigged needs --format glb (OBJ and PLY carry no skeleton): use --format glb")
    if fmt == "vrm" and args.motion:
        raise UserError("VRM carries no animation (VRM 1.0 ignores glTF animations): export --format glb for the motion")
    if fmt == "vrm" and args.rest_pose == "a":
        raise UserError("VRM's rest pose is the T-pose: drop --rest-pose a (or export --format glb)")
    if args.rest_pose and fmt in ("obj", "ply"):
        raise UserError("--rest-pose applies to rigged formats: use --format glb")
    if args.texture and fmt not in ("glb", "vrm"):
        raise UserError("--texture applies to glb and vrm (OBJ and PLY here carry vertex colours): use --format glb")
    if args.texture and not 16 <= args.texture <= 8192:
        raise UserError(f"--texture {args.texture}: give a texture size from 16 to 8192 pixels, e.g. 1024")
    if args.up and fmt not in ("obj", "ply"):
        raise UserError("glTF and VRM are always y-up: --up applies to obj and ply")
    if args.meta and fmt != "vrm":
        raise UserError("--meta sets VRM meta fields: use it with --format vrm")
    if args.faces < 0 or 0 < args.faces < 100:
        raise UserError(f"--faces {args.faces}: give at least 100 triangles (or 0 to keep the full mesh)")
    check_resolution(args.resolution)
    if args.threshold is not None and not args.threshold > 0:
        raise UserError(f"--threshold {args.threshold} is not a positive density: give e.g. 5, or leave it out")
    if fmt == "vrm":
        from dreamavatar.export.vrm import parse_meta

        parse_meta(args.meta, {"name": "avatar", "authors": ["dreamavatar"]})  # field names and values


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from pathlib import Path

    from dreamavatar.avatar import load_avatar
    from dreamavatar.export import avatar_export as ax
    from dreamavatar.export.mesh import MeshConfig

    from dreamavatar.commands.face_options import inputs_from_args
    from dreamavatar.errors import UserError
    from dreamavatar.io import check_output_file
    from dreamavatar.run_dir import open_run

    check_args(args)
    fmt = args.format
    out = Path(args.out) if args.out else Path(args.run_dir) / f"avatar.{fmt}"
    face = inputs_from_args(args)
    if face.any() and (fmt == "vrm" or args.rest_pose == "t"):
        raise UserError("face curves animate the A-pose bind of a GLB (or OBJ/PLY frames): drop the face options, "
                        "or export --format glb without --rest-pose t")  # fmt: skip
    if args.frames and not (args.motion or face.any()):
        raise UserError("--frames selects frames of --motion: add --motion NAME_OR_FILE, or drop --frames")
    check_output_file(out, (f".{fmt}",))
    open_run(args.run_dir)
    motion = None
    if args.motion or face.any():  # read (and checked) before the avatar is loaded and meshed
        from dreamavatar.face.inputs import apply_face
        from dreamavatar.motion import load_motion, still_motion

        # a face without a body motion: the avatar holds its bind pose (the canonical A-pose) while it talks
        motion = load_motion(args.motion, fps=args.fps) if args.motion else still_motion("face")
        motion, _ = apply_face(motion, face)
        if args.frames:
            motion = motion.frames(args.frames)
    start = time.perf_counter()
    loaded = load_avatar(args.run_dir)
    cfg = MeshConfig(resolution=args.resolution, target_faces=args.faces)
    if args.threshold is not None:
        cfg.threshold = args.threshold
    mesh = ax.extract_avatar_mesh(loaded, cfg)
    morph = ax.motion_morphs(loaded, mesh, motion) if motion is not None else None  # canonical-frame offsets
    rest = "t" if fmt == "vrm" else (args.rest_pose or "a")
    mesh, frame = ax.place(mesh, loaded, rest)  # the A-pose bind only translates: the offsets hold
    if args.texture:
        mesh, vmap = ax.add_texture(mesh, loaded, frame, args.texture)
        if morph is not None:
            morph.offsets = morph.offsets[:, vmap]
    transforms = frame.transforms(ax.motion_joint_transforms(loaded, motion)) if motion is not None else None
    if fmt == "glb":
        name = str(motion.name) if motion is not None else "motion"
        paths = [ax.export_glb(mesh, out, args.rigged, transforms, motion.fps if motion else 30.0, name,
                               args.skeleton_names, morph)]  # fmt: skip
    elif fmt == "vrm":
        paths = [ax.export_vrm(mesh, out, loaded, args.meta, args.skeleton_names)]
    else:
        up = args.up or ("z" if fmt == "ply" else "y")
        paths = (ax.export_sequence(mesh, out, transforms, up, morph) if transforms is not None
                 else [ax.export_static(mesh, out, up)])  # fmt: skip
    print(f"exported {len(mesh.vertices)} vertices, {len(mesh.faces)} faces in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)  # fmt: skip
    for p in paths:
        print(p)
    return 0
