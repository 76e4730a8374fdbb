"""The jobs one after another in this process: the way without Ray (`pip install -e .[cluster]` for parallel runs)."""

from __future__ import annotations

from typing import Callable

from dreamavatar.batch.jobs import Job, JobResult
from dreamavatar.batch.progress import BatchProgress
from dreamavatar.batch.task import run_job


def run_in_process(jobs: list[Job], progress: BatchProgress, on_result: Callable[[JobResult], None]) -> None:
    """Run each job; a failing one is reported and the next one starts. Ctrl-C stops the batch (the running
    trainer saves its checkpoint first)."""
    for job in jobs:
        progress.started()
        try:
            result = run_job(job, in_process=True)
        except KeyboardInterrupt:
            interrupted = JobResult(job.name, "interrupted", error="interrupted")
            progress.finished(interrupted)
            on_result(interrupted)
            raise
        progress.finished(result)
        on_result(result)
