"""`dreamavatar generate "PROMPT"`: make an avatar (stage 0, 1 and, unless --static, 2) into a run directory."""

from __future__ import annotations

import argparse
import re
import sys

# Settings a resumed run may change (dotted prefixes): they steer the optimisation from here on, while the
# checkpoint's weights and optimiser state still fit. Everything else (prompt, prior, body, seed, the avatar and
# background networks, train.background) made the checkpoint what it is and is refused with a message.
RESUME_SAFE = (
    "train.steps", "train.lr", "train.grid_lr", "train.betas", "train.batch", "train.resolution", "train.ray_step",
    "train.animate_from", "train.canonical_prob", "train.static", "train.checkpoint_every", "train.preview_every",
    "train.preview_size", "train.turntable_frames", "train.turntable_size", "train.cameras", "train.precision",
    "train.early_stop", "train.freeze_prior", "train.occupancy_every", "sds", "shape", "init", "device",
    # how the prior runs, not which prior it is
    "prior.guidance.dtype", "prior.guidance.device", "prior.guidance.attention_slicing", "prior.guidance.xformers",
    "prior.guidance.cpu_offload", "prior.guidance.vae_slicing", "prior.guidance.channels_last",
    "prior.guidance.compile", "prior.guidance.controlnet_scale", "prior.guidance.text_cache_dir",
)  # fmt: skip
# the options that set a key, named in a refusal
FLAGS = {"prior.guidance_type": "--prior", "prior.guidance.model": "--prior", "body": "--body", "smpl_dir": "--smpl-dir",
         "seed": "--seed", "preset": "--preset"}  # fmt: skip

RESUME_HELP = (
    "continue the run in --out from its last checkpoint (exactly as if never stopped). With it, --steps, --static and "
    "key=value overrides of train.steps, train.lr, train.grid_lr, train.betas, train.batch, train.resolution, "
    "train.ray_step, train.animate_from, train.canonical_prob, train.*_every, train.preview_size, train.turntable_*, "
    "train.cameras.*, train.precision, train.early_stop, train.freeze_prior, sds.*, shape.*, init.*, device and the "
    "prior's running "
    "options (prior.guidance.dtype, device, cpu_offload, attention_slicing, vae_slicing, xformers, channels_last, "
    "compile, controlnet_scale, text_cache_dir) apply from the resumed step; --prior, --preset, --vram, --body, "
    "--smpl-dir, --seed, the prior's model and controlnet, avatar.*, background.* and train.background cannot change "
    "and are refused"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="make an avatar from a text prompt", description=__doc__)
    p.add_argument("prompt", nargs="?", default=None,
                   help='what the avatar looks like, e.g. "a man wearing a red t-shirt and blue jeans" '
                        "(optional with --spec or --resume)")
    p.add_argument("--spec", default=None, metavar="FILE.yaml",
                   help="the outfit and body to make, as written by `dreamavatar parse` and perhaps edited "
                        "(instead of parsing the prompt; the prompt, if given, is still the text Stable Diffusion reads)")
    add_run_options(p)
    p.add_argument("--out", default=None, help="run directory (default outputs/<prompt words>)")
    p.add_argument("--resume", action="store_true", help=RESUME_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options that shape a run (`generate`, and `batch` for each of its prompts)."""
    p.add_argument("--prior", default=None,
                   help="tiny (the embedded prior, default) or a Stable Diffusion folder / hub id (needs a GPU)")
    p.add_argument("--preset", default=None,
                   help="tiny (the default), sd15 (the default with --prior PATH: fast) or sd15-dreamwaltz "
                        "(DreamWaltz's 80k steps)")
    p.add_argument("--vram", type=int, default=None, choices=(8, 12, 24),
                   help="GB of GPU memory to fit a Stable Diffusion preset into (default 24)")
    p.add_argument("--body", choices=("anny", "smpl"), default=None, help="body model (default anny)")
    p.add_argument("--smpl-dir", default=None, help="folder of your SMPL .npz files (with --body smpl)")
    p.add_argument("--steps", type=int, default=None, help="total optimisation steps (stages 1 + 2)")
    p.add_argument("--static", action="store_true", help="canonical avatar only (skip stage 2)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--config", action="append", default=[], metavar="YAML", help="extra config file(s)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=0.002")


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


def flag_values(args: argparse.Namespace, with_prompt: bool = True) -> dict:
    """The options given on the command line as a nested config mapping (strings kept exactly as typed)."""
    values: dict = {"prompt": args.prompt} if with_prompt and args.prompt is not None else {}
    if args.prior == "tiny":
        values["prior"] = {"guidance_type": "tiny"}
    elif args.prior is not None:  # --prior PATH_OR_HUB_ID: the model (the preset's other SD options stay)
        values["prior"] = {"guidance_type": "stable-diffusion", "guidance": {"model": args.prior}}
    for key, value in (("preset", args.preset), ("body", args.body), ("smpl_dir", args.smpl_dir), ("seed", args.seed)):
        if value is not None:
            values[key] = value
    train = {}
    if args.steps is not None:
        train["steps"] = args.steps
    if args.static:
        train["static"] = True
    if train:
        values["train"] = train
    return values


def make_config(args: argparse.Namespace, spec=None):
    from dreamavatar.errors import UserError
    from dreamavatar.run_config import apply_vram, build_config

    prior = args.prior or "tiny"
    preset = args.preset or ("tiny" if prior == "tiny" else "sd15")
    if (preset == "tiny") != (prior == "tiny"):
        raise UserError(f"--preset {preset} and --prior {prior} do not go together: the tiny preset takes the "
                        "embedded prior, the sd15 presets a Stable Diffusion folder or hub id (--prior PATH)")
    cfg = build_config(preset, list(args.overrides), args.config, spec, flag_values(args))
    if args.vram is not None:
        steps_given = args.steps is not None or any(o.startswith("train.steps=") for o in args.overrides)
        cfg = apply_vram(cfg, args.vram, steps_given)
    return cfg


def resume_config(args: argparse.Namespace, run_dir, spec, said: bool):
    """The run's config.yaml with what this command line changes: the changes in RESUME_SAFE are applied (and
    listed on stderr), any other is refused."""
    from omegaconf import OmegaConf

    from dreamavatar.errors import UserError
    from dreamavatar.run_config import load_generate_config

    if args.vram is not None:
        raise UserError("--vram sizes a new run: with --resume give its settings instead (train.batch=N, "
                        "prior.guidance.cpu_offload=true, prior.guidance.vae_slicing=true, ...)")  # fmt: skip
    stored = run_dir.load_config()
    if said and stored.prompt != args.prompt:
        raise UserError(f"{run_dir.root} was made for the prompt {stored.prompt!r}: give that prompt, or another --out")
    if args.spec is not None and stored.spec.key() != spec.key():
        raise UserError(f"{run_dir.root} was made for another spec (see its config.yaml): give that one, or another --out")
    cfg = load_generate_config([run_dir.config, *args.config], list(args.overrides), flags=flag_values(args, said))
    before, after = (_flat(OmegaConf.to_container(OmegaConf.structured(c))) for c in (stored, cfg))
    for key in sorted(k for k in after if before.get(k) != after[k]):
        if not any(key == s or key.startswith(s + ".") for s in RESUME_SAFE):
            given = FLAGS.get(key, key + "=")
            raise UserError(
                f"--resume cannot change {key} from {before.get(key)!r} to {after[key]!r}: the checkpoint was trained "
                f"with {before.get(key)!r}; drop {given} to continue the run, or start a new run with another --out"
            )
        print(f"resume: {key} {before.get(key)} -> {after[key]}", file=sys.stderr)
    return cfg


def _flat(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dreamavatar.config import save_config
    from dreamavatar.errors import UserError
    from dreamavatar.io import check_output_dir
    from dreamavatar.run_dir import RunDir
    from dreamavatar.train.trainer import Trainer

    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps {args.steps}: give a positive number of steps")
    if args.prompt is not None and _OVERRIDE.match(args.prompt):  # no prompt: argparse took the first key=value
        args.overrides, args.prompt = [args.prompt, *args.overrides], None
    if args.prompt is not None and not args.prompt.strip():
        raise UserError('the prompt is empty: give a description, e.g. dreamavatar generate "a knight in armour"')
    if args.smpl_dir is not None and args.body != "smpl":
        raise UserError("--smpl-dir is for the SMPL body: add --body smpl, or drop --smpl-dir")
    resuming = args.resume and args.out and RunDir(Path(args.out)).config.is_file()
    if args.prompt is None and args.spec is None and not resuming:
        raise UserError('give a prompt, e.g. dreamavatar generate "a knight in armour", or --spec FILE.yaml '
                        '(written by dreamavatar parse)')  # fmt: skip
    spec = read_spec(args) if args.spec is not None or args.prompt is not None else None  # checked before writing
    named = args.prompt if args.prompt is not None else Path(args.spec).stem if args.spec else "avatar"
    said = args.prompt is not None
    if args.prompt is None and spec is not None:
        args.prompt = text_of(spec)
    out = check_output_dir(Path(args.out) if args.out else Path("outputs") / slug(named))
    run_dir = RunDir(out)
    if args.resume and run_dir.config.is_file():
        cfg = resume_config(args, run_dir, spec, said)
    else:
        cfg = make_config(args, spec)
    run_dir.check_free(resume=args.resume)
    state = run_dir.load_checkpoint() if args.resume else None  # a broken checkpoint is named before any write
    trainer = Trainer(cfg, run_dir, progress=not args.no_progress)  # loads body and prior: their errors come first
    trainer.initialize(state)  # the checkpoint (refused if it does not fit the config), or stage 0
    run_dir.create(resume=args.resume)
    save_config(cfg, run_dir.config)
    trainer.fit()
    print("rendering previews and turntable", file=sys.stderr)
    trainer.write_preview()
    trainer.write_turntable()
    run_dir.write_summary(trainer.summary())
    print(run_dir.root)
    return 0
