"""`dreamavatar generate "PROMPT"`: make an avatar (stage 0, 1 and, unless --static, 2) into a run directory."""

from __future__ import annotations

import argparse
import re
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="make an avatar from a text prompt", description=__doc__)
    p.add_argument("prompt", nargs="?", default=None,
                   help='what the avatar looks like, e.g. "a man wearing a red t-shirt and blue jeans" '
                        "(optional with --spec or --resume)")
    p.add_argument("--spec", default=None, metavar="FILE.yaml",
                   help="the outfit and body to make, as written by `dreamavatar parse` and perhaps edited "
                        "(instead of parsing the prompt; the prompt, if given, is still the text Stable Diffusion reads)")
    p.add_argument("--prior", default=None,
                   help="tiny (the embedded prior, default) or a Stable Diffusion folder / hub id (needs a GPU)")
    p.add_argument("--preset", default=None,
                   help="tiny (the default), sd15 (the default with --prior PATH: fast) or sd15-dreamwaltz "
                        "(DreamWaltz's 80k steps)")
    p.add_argument("--vram", type=int, default=None, choices=(8, 12, 24),
                   help="GB of GPU memory to fit a Stable Diffusion preset into (default 24)")
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


_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=\S")


def slug(prompt: str) -> str:
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:6]
    return "-".join(words) or "avatar"


def read_spec(args: argparse.Namespace):
    """The spec of this run: --spec FILE, else the prompt parsed once (the words it did not use listed on stderr)."""
    from prompts.spec import Spec

    if args.spec is not None:
        return Spec.from_file(args.spec)
    from prompts.parse import parse_prompt

    spec = parse_prompt(args.prompt)
    if spec.ignored:
        print(f"not understood (ignored): {' '.join(spec.ignored)}  (see: dreamavatar parse PROMPT)", file=sys.stderr)
    return spec


def text_of(spec) -> str:
    """The prompt of a spec file (the text Stable Diffusion reads): the one it was parsed from if it still says the
    same, else the spec in words (an edited spec)."""
    from prompts.parse import describe, parse_prompt

    if spec.prompt.strip() and parse_prompt(spec.prompt).key() == spec.key():
        return spec.prompt.strip()
    return describe(spec)


def make_config(args: argparse.Namespace, spec=None):
    from dreamavatar.errors import UserError
    from dreamavatar.run_config import apply_vram, build_config

    prior = args.prior or "tiny"
    preset = args.preset or ("tiny" if prior == "tiny" else "sd15")
    if (preset == "tiny") != (prior == "tiny"):
        raise UserError(f"--preset {preset} and --prior {prior} do not go together: the tiny preset takes the "
                        "embedded prior, the sd15 presets a Stable Diffusion folder or hub id (--prior PATH)")
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
    cfg = build_config(preset, overrides, args.config, spec)
    if args.vram is not None:
        steps_given = args.steps is not None or any(o.startswith("train.steps=") for o in args.overrides)
        cfg = apply_vram(cfg, args.vram, steps_given)
    return cfg


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

    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps {args.steps}: give a positive number of steps")
    if args.prompt is not None and _OVERRIDE.match(args.prompt):  # no prompt: argparse took the first key=value
        args.overrides, args.prompt = [args.prompt, *args.overrides], None
    if args.prompt is not None and not args.prompt.strip():
        raise UserError('the prompt is empty: give a description, e.g. dreamavatar generate "a knight in armour"')
    resuming = args.resume and args.out and RunDir(Path(args.out)).config.is_file()
    if args.prompt is None and args.spec is None and not resuming:
        raise UserError('give a prompt, e.g. dreamavatar generate "a knight in armour", or --spec FILE.yaml '
                        '(written by dreamavatar parse)')  # fmt: skip
    spec = read_spec(args) if args.spec is not None or args.prompt is not None else None  # checked before writing
    named = args.prompt if args.prompt is not None else Path(args.spec).stem if args.spec else "avatar"
    said = args.prompt is not None
    if args.prompt is None and spec is not None:
        args.prompt = text_of(spec)
    out = Path(args.out) if args.out else Path("outputs") / slug(named)
    run_dir = RunDir(out)
    if args.resume and run_dir.config.is_file():
        cfg = load_generate_config([run_dir.config], [f"train.steps={args.steps}"] if args.steps else [])
        if said and cfg.prompt != args.prompt:
            raise UserError(f"{out} was made for the prompt {cfg.prompt!r}: give that prompt, or another --out")
        if args.spec is not None and cfg.spec.key() != spec.key():
            raise UserError(f"{out} was made for another spec (see its config.yaml): give that one, or another --out")
    else:
        cfg = make_config(args, spec)
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
