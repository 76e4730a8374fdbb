"""`dreamavatar batch PROMPTS`: one avatar per prompt of a prompt set, each a run directory under --out, in parallel
on Ray (a local instance, or a cluster by --address) or, without Ray, one after another. Run it again to continue:
finished prompts are skipped, unfinished runs resumed."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from dreamavatar.commands.export import FORMATS
    from dreamavatar.commands.generate import add_run_options

    p = sub.add_parser("batch", help="many avatars from a prompt set, in parallel on Ray", description=__doc__)
    p.add_argument("prompts", help="a prompt set: a .yaml file (prompts/ format, with per-prompt seed, steps, spec, "
                   "motion, export, name, overrides), a text file (one prompt a line) or a built-in set name")
    p.add_argument("--out", default=None, help="folder of the run directories (default outputs/<set name>)")
    p.add_argument("--workers", type=int, default=None,
                   help="prompts at once (default: as many as the cores or the cluster fit)")
    p.add_argument("--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
                   help="a running Ray cluster (default: start a local Ray for this batch)")
    p.add_argument("--cpus-per-task", type=float, default=None,
                   help="Ray num_cpus and torch threads per prompt (default: local cores / --workers, else 2; 1 with a GPU)")
    p.add_argument("--gpus-per-task", type=float, default=None,
                   help="Ray num_gpus per prompt (default 1 for Stable Diffusion, 0 for the embedded prior)")
    p.add_argument("--then", action="append", choices=("animate", "export"), default=[],
                   help="after each avatar: animate it (with --motion) and/or export it (as --format); repeatable")
    p.add_argument("--motion", default=None, help="motion of --then animate for prompts that name none (default walk)")
    p.add_argument("--format", choices=FORMATS, default="glb",
                   help="format of --then export (glb is rigged, with the prompt's motion) for prompts that name none")
    p.add_argument("--no-ray", action="store_true", help="one prompt after another in this process, even with Ray")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_run_options(p)
    p.set_defaults(func=run)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (kill, a scheduler's stop) handled as Ctrl-C: every running prompt saves its checkpoint."""


def _on_sigterm(signum, frame):
    raise _Terminated


def run(args: argparse.Namespace) -> int:
    import signal
    import time

    from dreamavatar.batch.cluster import INSTALL, RayRunner, ray_available
    from dreamavatar.batch.jobs import JobResult, job_done
    from dreamavatar.batch.local import run_in_process
    from dreamavatar.batch.plan import plan_batch
    from dreamavatar.batch.progress import BatchProgress
    from dreamavatar.batch.sheet import write_sheet
    from dreamavatar.errors import UserError

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: give at least 1")
    for flag, value in (("--cpus-per-task", args.cpus_per_task), ("--gpus-per-task", args.gpus_per_task)):
        if value is not None and (value < 0 or (flag == "--cpus-per-task" and value == 0)):
            raise UserError(f"{flag} {value:g}: give a positive number")
    use_ray = not args.no_ray and ray_available()
    if args.address and not use_ray:
        raise UserError(f"--address needs Ray{' (and no --no-ray)' if args.no_ray else ''}: {INSTALL}")
    batch = plan_batch(args)
    runner = RayRunner(args.address, args.workers, args.cpus_per_task, args.gpus_per_task, batch.sd) if use_ray else None
    if not use_ray and not args.no_ray:
        print(f"Ray is not installed: the prompts run one after another in this process; for parallel runs {INSTALL}",
              file=sys.stderr)  # fmt: skip
    todo = [j for j in batch.jobs if not job_done(j)]
    results = {j.name: JobResult(j.name, "done") for j in batch.jobs if j not in todo}  # done before: skipped
    t0 = time.monotonic()
    meta = {"source": batch.source, "out": str(batch.out), "ray": use_ray, "address": args.address}

    def write() -> None:
        write_sheet(batch.out, batch.name, batch.jobs, results, {**meta, "wall_seconds": round(time.monotonic() - t0, 1)})

    def on_result(result: JobResult) -> None:
        results[result.name] = result
        write()

    previous = None
    try:
        if runner is not None:
            runner.__enter__()  # starts or reaches Ray (its errors before anything is written)
            meta.update(workers=runner.res.workers, cpus_per_task=runner.res.cpus, gpus_per_task=runner.res.gpus)
        previous = signal.signal(signal.SIGTERM, _on_sigterm)  # after ray.init, which installs its own
        (batch.out / "logs").mkdir(parents=True, exist_ok=True)
        write()
        progress = BatchProgress(len(batch.jobs), len(batch.jobs) - len(todo), enabled=not args.no_progress)
        try:
            if runner is not None:
                runner.run(todo, progress, on_result)
            else:
                run_in_process(todo, progress, on_result)
        finally:
            progress.close()
    except KeyboardInterrupt:
        write()
        print(f"interrupted: run the same command again to continue ({batch.out}/index.html shows what is done)",
              file=sys.stderr)  # fmt: skip
        return 130
    finally:
        if runner is not None:
            runner.__exit__(None, None, None)
        if previous is not None or signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    failed = [results[j.name] for j in batch.jobs if results.get(j.name) and results[j.name].status == "failed"]
    for j in batch.jobs:
        if results.get(j.name) and results[j.name].status == "done":
            print(j.run_dir)
    print(batch.out / "index.html")
    if failed:
        logs = {j.name: j.log for j in batch.jobs}
        print(f"dreamavatar batch: {len(failed)} of {len(batch.jobs)} prompts failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r.name}: {r.error} (log: {logs[r.name]})", file=sys.stderr)
        return 2
    return 0
