"""The prompt set of `dreamavatar batch` read and checked into one `Job` per prompt, before anything is written.

Per-prompt keys in the YAML, besides the prompt library's own (text, iou, top, bottom, tags):

    name: chef           # the run directory's name (default: the prompt's words)
    seed: 3
    steps: 600
    spec: chef.yaml      # generate --spec: an outfit-and-body spec (`dreamavatar parse`, perhaps edited)
    motion: dance        # animate the avatar with this motion (built-in name or file)
    export: glb          # export the avatar: glb (rigged, with the prompt's motion when it has one), vrm, obj, ply
    overrides: [train.lr=0.002]

Files named in the YAML are relative to the YAML's folder. Every prompt's config is built here the way `generate`
builds it, so a misspelt key fails the batch with one message before any run starts.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from dreamavatar.batch.jobs import RUN_SUMMARY, Job, Step
from dreamavatar.errors import UserError

BATCH_KEYS = ("name", "seed", "steps", "spec", "motion", "export", "overrides")
THEN = ("animate", "export")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
NAME_CHARS = 60  # a run directory named from a prompt keeps this many characters of its words


@dataclass
class Batch:
    name: str  # the prompt set's name
    source: str  # what the user gave (a file or a built-in set)
    out: Path
    jobs: list[Job]
    sd: bool  # the Stable Diffusion preset (a GPU per task)


def run_name(text: str) -> str:
    """A prompt's words, lower case, joined by '-' and cut at a word boundary: "a-knight-in-shining-armour"."""
    words = re.findall(r"[a-z0-9]+", text.lower()) or ["avatar"]
    name = words[0][:NAME_CHARS]
    for w in words[1:]:
        if len(name) + 1 + len(w) > NAME_CHARS:
            break
        name += "-" + w
    return name


def _where(i: int, text: str) -> str:
    return f"prompt {i + 1} ({text[:40]!r})"


def _file(value: Any, base: Path, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: `{key}` must be a file path")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise UserError(f"{where}: {key} file {path} does not exist: fix the path (relative to the prompt set's folder)")
    return str(path.resolve())


def _int_at_least(value: Any, key: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{where}: `{key}: {value!r}` must be an integer >= {minimum}")
    return value


def _motion(value: Any, base: Optional[Path], where: str) -> str:
    """A built-in motion name, or a motion file made absolute (relative to `base`, else the working folder)."""
    from dreamavatar.motion import builtin_motions

    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: `motion` must be a built-in motion name or a motion file")
    if value in builtin_motions():
        return value
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise UserError(
            f"{where}: motion {value!r} is neither a built-in motion nor an existing file: run `dreamavatar "
            "motions` for the built-in names, or give the path of a motion file"
        )
    return str(path.resolve())


def _run_options(args: argparse.Namespace) -> list[str]:
    """The batch's own `generate` options, passed to every prompt's fresh run (paths made absolute)."""
    opts: list[str] = []
    if args.prior is not None:
        prior = Path(args.prior).expanduser()
        opts += ["--prior", str(prior.resolve()) if args.prior != "tiny" and prior.exists() else args.prior]
    for flag, value in (("--preset", args.preset), ("--vram", args.vram), ("--body", args.body)):
        if value is not None:
            opts += [flag, str(value)]
    if args.smpl_dir is not None:
        opts += ["--smpl-dir", str(Path(args.smpl_dir).expanduser().resolve())]
    if args.static:
        opts.append("--static")
    for f in args.config:
        opts += ["--config", str(Path(f).expanduser().resolve())]
    return opts


def _check_config(argv: list[str], where: str):
    """The config `generate` would build from `argv` (its errors, naming the prompt; the words its parser ignores
    are said in the prompt's log when it runs)."""
    import io
    from contextlib import redirect_stderr

    from dreamavatar.cli import parse_args, user_error_types
    from dreamavatar.commands.generate import make_config, read_spec

    args = parse_args(argv)
    try:
        with redirect_stderr(io.StringIO()):
            spec = read_spec(args)
        return make_config(args, spec)
    except user_error_types() as e:
        raise UserError(f"{where}: {e}") from None


def plan_batch(args: argparse.Namespace) -> Batch:
    """The jobs of `dreamavatar batch` from its arguments; raises UserError / PromptError on any bad input."""
    from dreamavatar.commands.export import FORMATS
    from prompts import load_prompt_set

    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps {args.steps}: give a positive number of steps")
    pset = load_prompt_set(args.prompts, extra_keys=BATCH_KEYS)
    source = Path(args.prompts)
    base = source.resolve().parent if source.is_file() else Path.cwd()
    out = Path(args.out).expanduser() if args.out else Path("outputs") / run_name(pset.name)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: give a folder for the batch's run directories")
    out = out.resolve()
    then = list(dict.fromkeys(args.then or []))
    default_motion = _motion(args.motion, None, "--motion") if args.motion else "walk"
    run_opts = _run_options(args)
    jobs: list[Job] = []
    names: dict[str, int] = {}
    sd = False
    for i, p in enumerate(pset):
        where, x = _where(i, p.text), dict(p.extras)
        name = x.get("name")
        if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
            raise UserError(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-' (a folder name)")
        name = name or run_name(p.text)
        if name in names and "name" in x:
            raise UserError(f"{where}: name {name!r} is already used by prompt {names[name] + 1}: give another name")
        base_name, k = name, 2
        while name in names:  # the same words twice: -2, -3, ... in the order of the set
            name, k = f"{base_name}-{k}", k + 1
        names[name] = i
        run_dir = out / name
        seed = _int_at_least(x["seed"], "seed", where, 0) if "seed" in x else args.seed
        steps = _int_at_least(x["steps"], "steps", where, 1) if "steps" in x else args.steps
        overrides = x.get("overrides", [])
        if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise UserError(f"{where}: `overrides` must be a list of key=value strings, e.g. [train.lr=0.002]")
        fresh = ["generate", p.text, "--out", str(run_dir), "--no-progress", *run_opts]
        if seed is not None:
            fresh += ["--seed", str(seed)]
        if steps is not None:
            fresh += ["--steps", str(steps)]
        if "spec" in x:
            fresh += ["--spec", _file(x["spec"], base, "spec", where)]
        fresh += [*args.overrides, *overrides]
        cfg = _check_config(fresh, where)
        sd = sd or not cfg.prior.is_tiny
        resume = ["generate", p.text, "--out", str(run_dir), "--resume", "--no-progress"]
        if steps is not None:
            resume += ["--steps", str(steps)]
        job_steps = [Step("generate", fresh, str(run_dir / RUN_SUMMARY), resume)]
        motion = _motion(x["motion"], base, where) if "motion" in x else None
        motion = motion or (default_motion if "animate" in then else None)
        if motion is not None:
            video = run_dir / f"animate-{Path(motion).stem}.mp4"
            job_steps.append(Step("animate", ["animate", str(run_dir), "--motion", motion, "--out", str(video)],
                                  str(video)))  # fmt: skip
        fmt = x.get("export")
        if fmt is not None and fmt not in FORMATS:
            raise UserError(f"{where}: `export: {fmt}` is not a format: use one of {', '.join(FORMATS)}")
        if fmt is not None or "export" in then:
            fmt = fmt or args.format
            target = run_dir / f"avatar.{fmt}"
            cmd = ["export", str(run_dir), "--format", fmt, "--out", str(target)]
            if fmt == "glb":
                cmd += ["--rigged"] + (["--motion", motion] if motion else [])
            job_steps.append(Step("export", cmd, str(target)))
        jobs.append(Job(i, name, p.text, str(run_dir), str(out / "logs" / f"{name}.log"), job_steps, steps,
                        cwd=str(Path.cwd())))  # fmt: skip
    return Batch(pset.name, str(args.prompts), out, jobs, sd)
