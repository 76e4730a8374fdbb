"""The jobs as Ray tasks: a local Ray instance started and stopped here when no address is given, or a running
cluster (`ray start --head` on one machine, `ray start --address HEAD:6379` on the others; then `--address auto` on
a node of it, or `ray://HEAD:10001` from elsewhere).

Resources per task: `num_cpus` = --cpus-per-task (default: the local cores shared by --workers, else 2, or 1 with a
GPU) and `num_gpus` = --gpus-per-task (default 1 for the Stable Diffusion preset, else 0; 0.5 puts two tasks on a
GPU). At most --workers tasks are in flight (default: as many as the cluster's nodes fit at once). Run directories
must be on a file system every node sees at the same path, and every node needs dreamavatar installed.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Callable, Optional

from dreamavatar.batch.jobs import Job, JobResult
from dreamavatar.batch.progress import BatchProgress
from dreamavatar.batch.task import STOP_GRACE_S, run_job
from dreamavatar.errors import UserError

INSTALL = "pip install -e '.[cluster]' (Ray)"
OBJECT_STORE_BYTES = 128 * 1024**2  # tasks pass only job descriptions and results: keep the local store small
MAX_RETRIES = 2  # a task whose node or worker died is run again (it resumes from the run's checkpoint)


def local_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Resources:
    workers: int
    cpus: float
    gpus: float


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _capacity(nodes: list[dict], cpus: float, gpus: float) -> int:
    """How many tasks of (cpus, gpus) the alive nodes fit at once (a task never spans nodes)."""
    total = 0
    for node in nodes:
        if not node.get("Alive", True):
            continue
        res = node.get("Resources", {})
        fit = math.floor(res.get("CPU", 0) / cpus + 1e-9) if cpus > 0 else 1 << 30
        if gpus > 0:
            fit = min(fit, math.floor(res.get("GPU", 0) / gpus + 1e-9))
        total += fit
    return total


class RayRunner:
    """`with RayRunner(...) as r: r.run(jobs, ...)`: connects (or starts local Ray) on entry, disconnects (or stops
    it) on exit."""

    def __init__(self, address: Optional[str], workers: Optional[int], cpus: Optional[float],
                 gpus: Optional[float], sd: bool) -> None:  # fmt: skip
        self.address, self.local = address, address is None
        gpus = (1.0 if sd else 0.0) if gpus is None else gpus
        n = local_cpus()
        if cpus is None:
            cpus = max(1, n // workers) if self.local and workers else (1.0 if gpus > 0 else float(min(2, n)))
        self.asked_workers = workers
        self.res = Resources(workers or 0, float(cpus), float(gpus))

    def __enter__(self) -> "RayRunner":
        import ray

        quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        if self.local:
            # Ray renices its workers by +15 (they yield to the driver); here the workers do the training, which
            # should run at the priority `dreamavatar generate` would (measured: 10x slower on a busy machine).
            # The value is added to the command's own niceness (under `nice -n 10`, "10" made them 19): 0 keeps it.
            os.environ.setdefault("RAY_worker_niceness", "0")
            cores = max(local_cpus(), math.ceil((self.asked_workers or 0) * self.res.cpus))
            ray.init(address="local", num_cpus=cores, object_store_memory=OBJECT_STORE_BYTES, **quiet)
        else:
            try:
                ray.init(address=self.address, **quiet)
            except ImportError as e:  # ray:// needs Ray Client's grpcio
                raise UserError(f"--address {self.address} needs Ray Client ({e}): pip install 'ray[client]'") from None
            except (ConnectionError, RuntimeError, ValueError) as e:
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise UserError(
                    f"cannot reach a Ray cluster at {self.address} ({msg}): start one with `ray start --head` (then "
                    "--address auto on that machine), or leave out --address for a local Ray"
                ) from None
        try:
            self._fit(ray.nodes())
        except BaseException:
            ray.shutdown()
            raise
        return self

    def _fit(self, nodes: list[dict]) -> None:
        r = self.res
        capacity = _capacity(nodes, r.cpus, r.gpus)
        if capacity == 0:
            if r.gpus > 0 and not any(n.get("Resources", {}).get("GPU", 0) for n in nodes):
                raise UserError(
                    f"each task asks for {r.gpus:g} GPU (the Stable Diffusion preset needs one) and the Ray "
                    f"{'instance on this machine' if self.local else 'cluster'} has none: run on GPU nodes, or "
                    "use the embedded prior (--prior tiny)"
                )
            raise UserError(
                f"no Ray node has {r.cpus:g} CPUs{f' and {r.gpus:g} GPUs' if r.gpus else ''} free for a task: lower "
                "--cpus-per-task / --gpus-per-task"
            )
        r.workers = self.asked_workers or capacity

    def __exit__(self, *exc) -> None:
        import ray

        ray.shutdown()  # stops a local instance; only disconnects from a cluster

    def run(self, jobs: list[Job], progress: BatchProgress, on_result: Callable[[JobResult], None]) -> None:
        """Keep up to `workers` jobs in flight until all are finished. Ctrl-C (or SIGTERM, see the command) cancels
        the running tasks, which stop their child with SIGINT so every trainer saves a checkpoint, then re-raises."""
        import ray

        task = ray.remote(run_job)
        pending, inflight = list(jobs), {}
        try:
            while pending or inflight:
                while pending and len(inflight) < self.res.workers:
                    job = pending.pop(0)
                    job.cpus, job.gpus = self.res.cpus, self.res.gpus
                    ref = task.options(num_cpus=job.cpus, num_gpus=job.gpus, max_retries=MAX_RETRIES,
                                       name=f"dreamavatar-batch:{job.name}").remote(job)  # fmt: skip
                    inflight[ref] = job
                    progress.started()
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
                for ref in ready:
                    result = self._result(ref, inflight.pop(ref))
                    progress.finished(result)
                    on_result(result)
                progress.refresh()
        except KeyboardInterrupt:
            for ref in inflight:
                ray.cancel(ref)
            ray.wait(list(inflight), num_returns=len(inflight), timeout=STOP_GRACE_S + 10)
            for ref, job in inflight.items():
                result = self._result(ref, job, wait=False)
                progress.finished(result)
                on_result(result)
            raise

    @staticmethod
    def _result(ref, job: Job, wait: bool = True) -> JobResult:
        import ray
        from ray.exceptions import GetTimeoutError, RayError, TaskCancelledError

        try:
            return ray.get(ref, timeout=None if wait else 0)
        except (TaskCancelledError, GetTimeoutError):
            return JobResult(job.name, "interrupted", error="interrupted")
        except RayError as e:
            cause = getattr(e, "cause", None)
            text = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else str(e)
            return JobResult(job.name, "failed", error="ray: " + (text.strip().splitlines() or ["error"])[0])
