"""`dreamavatar generate "PROMPT"`: make an avatar (stage 0, 1 and, unless --static, 2) into a run directory."""

from __future__ import annotations

import argparse
import re
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="make an avatar from a text prompt", description=__doc__)
    p.add_argument("prompt", help='what the avatar looks like, e.g. "a man wearing a red t-shirt and blue jeans"')
    p.add_argument("--prior", default=None,
                   help="tiny (the embedded prior, default) or a Stable Diffusion folder / hub id (needs a GPU)")
    p.add_argument("--body", choices=("anny", "smpl"), default=None, help="body model (default anny)")
    p.add_argument("--smpl-dir", default=None, help="folder of your SMPL .npz files (for --body smpl)")
    p.add_argument("--steps", type=int, default=None, help="total optimisation steps (stages 1 + 2)")
    p.add_argument("--static", action="store_true", help="canonical avatar only (skip stage 2)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", default=None, help="run directory (default outputs/<prompt words>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--config", action="append", default=[], metavar="YAML", help="extra config file(s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=0.002")
    p.set_defaults(func=run)


def slug(prompt: str) -> str:
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:6]
    return "-".join(words) or "avatar"


def make_config(args: argparse.Namespace):
    from dreamavatar.run_config import build_config

    prior = args.prior or "tiny"
    preset = "tiny" if prior == "tiny" else "sd15"
    overrides = list(args.overrides)
    overrides.append(f"prompt={_quoted(args.prompt)}")
    if args.prior is not None:  # --prior PATH_OR_HUB_ID: the sd15 preset's model (its other options stay)
        overrides.append("prior.guidance_type=" + ("tiny" if prior == "tiny" else "stable-diffusion"))
        if prior != "tiny":
            overrides.append(f"prior.guidance.model={_quoted(prior)}")
    for key, value in (("body", args.body), ("smpl_dir", args.smpl_dir), ("seed", args.seed),
                       ("train.steps", args.steps)):  # fmt: skip
        if value is not None:
            overrides.append(f"{key}={_quoted(str(value))}")
    if args.static:
        overrides.append("train.static=true")
    return build_config(preset, overrides, args.config)


def _quoted(value: str) -> str:
    """A value for OmegaConf's dotlist that stays a string whatever characters it holds."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dreamavatar.config import save_config
    from dreamavatar.errors import UserError
    from dreamavatar.run_config import load_generate_config
    from dreamavatar.run_dir import RunDir
    from dreamavatar.train.trainer import Trainer

    if not args.prompt.strip():
        raise UserError('the prompt is empty: give a description, e.g. dreamavatar generate "a knight in armour"')
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps {args.steps}: give a positive number of steps")
    out = Path(args.out) if args.out else Path("outputs") / slug(args.prompt)
    run_dir = RunDir(out)
    if args.resume and run_dir.config.is_file():
        cfg = load_generate_config([run_dir.config], [f"train.steps={args.steps}"] if args.steps else [])
        if cfg.prompt != args.prompt:
            raise UserError(f"{out} was made for the prompt {cfg.prompt!r}: give that prompt, or another --out")
    else:
        cfg = make_config(args)
    run_dir.check_free(resume=args.resume)
    trainer = Trainer(cfg, run_dir, progress=not args.no_progress)  # loads body and prior: their errors come first
    run_dir.create(resume=args.resume)
    save_config(cfg, run_dir.config)
    trainer.initialize()
    trainer.fit()
    print("rendering previews and turntable", file=sys.stderr)
    trainer.write_preview()
    trainer.write_turntable()
    run_dir.write_summary(trainer.summary())
    print(run_dir.root)
    return 0
