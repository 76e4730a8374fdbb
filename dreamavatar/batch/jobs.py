"""A batch's unit of work: one prompt's `Job` (its run directory and the command lines of its steps), what of it is
already done on disk, and its `JobResult`. Light on purpose: Ray workers import it (no torch)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

RUN_SUMMARY = "run.json"  # written last by `generate`: its presence means the run is finished
RUN_CONFIG = "config.yaml"  # written first: its presence means there is a run to resume


@dataclass
class Step:
    """kind: generate | animate | export. argv: the `dreamavatar` command line (without the program name).
    output: the file whose presence means the step is done. resume_argv (generate): the command line that continues
    an unfinished run directory."""

    kind: str
    argv: list[str]
    output: str
    resume_argv: Optional[list[str]] = None


@dataclass
class Job:
    """One prompt. min_steps: a finished run trained for fewer steps is continued (a batch run again with a larger
    --steps). cwd: the folder the steps run in (the batch's; relative override paths mean the same there), where it
    exists. cpus/gpus: the task's resources (`num_cpus`, `num_gpus`); cpus also sets the child's torch threads."""

    index: int
    name: str
    prompt: str
    run_dir: str
    log: str
    steps: list[Step]
    min_steps: Optional[int] = None
    cwd: Optional[str] = None
    cpus: float = 1.0
    gpus: float = 0.0

    @property
    def lock(self) -> str:
        return str(Path(self.log).with_suffix(".lock"))


@dataclass
class JobResult:
    """status: done | failed | interrupted. ran: the steps run now ("generate", "animate", "export").
    resumed: generate continued an unfinished run directory. seconds: wall time of the job in this batch."""

    name: str
    status: str
    error: Optional[str] = None
    ran: list[str] = field(default_factory=list)
    resumed: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def read_run_summary(run_dir: str | Path) -> dict:
    """A run's run.json, or {} when the run is not finished (or the file is unreadable)."""
    path = Path(run_dir) / RUN_SUMMARY
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def step_done(job: Job, step: Step) -> bool:
    if step.kind != "generate":
        return Path(step.output).is_file()
    summary = read_run_summary(job.run_dir)
    return bool(summary) and (job.min_steps is None or int(summary.get("steps", 0)) >= job.min_steps)


def job_done(job: Job) -> bool:
    return all(step_done(job, s) for s in job.steps)


def run_dir_state(run_dir: str | Path) -> str:
    """"new" (absent, or only empty folders: a run stopped before writing its config), "unfinished" (a config.yaml
    to resume from) or "foreign" (files that are not a dreamavatar run)."""
    root = Path(run_dir)
    if (root / RUN_CONFIG).is_file():
        return "unfinished"
    if not root.exists() or all(p.is_dir() for p in root.rglob("*")):
        return "new"
    return "foreign"
