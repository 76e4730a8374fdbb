"""`dreamavatar sample`: draw one image from a prior for a prompt on a body pose's skeleton, to check the prior by eye.

Writes a PNG with two panels side by side: the OpenPose condition image | the sample.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from dreamavatar.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    from dreamavatar.commands import FPS_HELP

    p = subparsers.add_parser(
        "sample",
        help="draw one image from a prior on a pose's skeleton (condition | sample PNG)",
        description="Sample the pose-conditioned prior for PROMPT on the skeleton of one motion frame (or the "
        "canonical A-pose) seen from a fixed view; writes condition | sample side by side.",
    )
    p.add_argument("prompt", help="text prompt, e.g. \"a man wearing a red t-shirt and blue trousers\"")
    p.add_argument("--motion", default=None, help="built-in motion name or motion file (default: the A-pose)")
    p.add_argument("--frame", type=int, default=0, help="frame index of the motion (default 0)")
    p.add_argument("--fps", type=float, default=None, help=FPS_HELP)
    p.add_argument("--view", default="front", choices=("front", "side", "back"), help="camera (default front)")
    p.add_argument("--no-view-prompt", action="store_true", help="do not prepend \"front/side/back view of\"")
    p.add_argument("--prior", default="tiny",
                   help="tiny (embedded, default), an SD folder / hub id, or a generate run directory (its prior)")
    p.add_argument("--steps", type=int, default=30, help="DDIM steps (default 30)")
    p.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    p.add_argument("--negative", default="", help="negative prompt (default empty)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=int, default=256, help="panel size in pixels, a multiple of 16 (default 256)")
    p.add_argument("--body", default="anny", choices=("anny", "smpl"), help="body model (default anny)")
    p.add_argument("--smpl-dir", default=None, help="folder with your SMPL model files (for --body smpl)")
    p.add_argument("--out", required=True, help="output image (.png)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> Path:
    from dreamavatar.io import check_output_file
    from renderers.memory import check_render_size

    if not args.prompt.strip():
        raise UserError('the prompt is empty: give a description, e.g. "a man in a black suit"')
    check_render_size(args.size, args.size, "--size", multiple=16, panels=2)
    if args.steps < 1:
        raise UserError(f"--steps {args.steps} must be at least 1: use e.g. --steps 30")
    if not args.guidance >= 0:
        raise UserError(f"--guidance {args.guidance} is negative: use e.g. --guidance 7.5")
    if args.smpl_dir is not None and args.body != "smpl":
        raise UserError("--smpl-dir is for the SMPL body: add --body smpl, or drop --smpl-dir")
    return check_output_file(args.out, (".png", ".jpg", ".jpeg"))


def _pose(args: argparse.Namespace):
    """(poses 1 x 24 x 3, transl 1 x 3) of the chosen frame, or the canonical A-pose."""
    import torch

    from dreamavatar.body.skeleton import a_pose

    if args.motion is None:
        return a_pose(1), torch.zeros(1, 3)
    from dreamavatar.motion import load_motion

    motion = load_motion(args.motion, fps=args.fps)
    n = len(motion)
    if not -n <= args.frame < n:
        raise UserError(f"--frame {args.frame} is outside the motion's {n} frames: use 0 to {n - 1}")
    i = args.frame % n
    return motion.poses[i : i + 1], motion.transl[i : i + 1]


def _prior_config(spec: str):
    """--prior: tiny, a Stable Diffusion folder or hub id, or a `generate` run directory (its own prior)."""
    from priors import PriorConfig

    run_config = Path(spec) / "config.yaml"
    if (Path(spec) / "run.json").is_file() and run_config.is_file():
        from dreamavatar.run_config import load_generate_config

        return load_generate_config([run_config]).prior
    return PriorConfig.from_spec(spec)


def run(args: argparse.Namespace) -> int:
    out = _check_args(args)
    poses, transl = _pose(args)

    import numpy as np
    import torch

    from dreamavatar.body import body_options, load_body
    from dreamavatar.condition import body_extent, condition_images, view_cameras
    from dreamavatar.images import to_uint8_size
    from dreamavatar.io import atomic_image
    from priors import load_prior
    from prompts import VIEW_AZIMUTH, view_prompt
    from prompts.parse import parse_prompt

    prior_cfg = _prior_config(args.prior)
    prior = load_prior(prior_cfg)
    if not prior_cfg.is_tiny and prior.device.type == "cpu":
        log.warning("sampling Stable Diffusion on a CPU is slow (minutes per image)")
    body = load_body(args.body, **body_options(args.body, parse_prompt(args.prompt), args.smpl_dir))  # its body
    height, center_y = body_extent(body)
    # stroke widths scale with the image, so a skeleton drawn at >= the prior's size and area-resampled by the prior
    # looks like the training data's (drawn at the render size, resampled the same way); never upsample one
    cond_size = max(args.size, prior.resolution)
    panel = condition_images(body, poses, view_cameras(args.view, cond_size, height, center_y, transl), transl)
    cond = panel
    if cond_size != args.size:
        panel = condition_images(body, poses, view_cameras(args.view, args.size, height, center_y, transl), transl)

    prompt = args.prompt.strip() if args.no_view_prompt else view_prompt(args.prompt.strip(), VIEW_AZIMUTH[args.view])
    log.info("sampling %r with %d steps", prompt, args.steps)
    gen = torch.Generator().manual_seed(args.seed)
    image = prior.sample(prompt, cond, steps=args.steps, guidance_scale=args.guidance,
                         negative_prompt=args.negative, generator=gen)  # fmt: skip

    both = np.concatenate([to_uint8_size(panel[0], args.size), to_uint8_size(image[0], args.size)], axis=1)
    atomic_image(both, out)
    print(out, file=sys.stdout)
    return 0
