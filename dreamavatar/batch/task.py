"""One job run: each step not yet done, in order, as a child process (in a Ray task) or in this process (without
Ray). The first failing step ends the job with its error; the run directory's lock keeps two batches (or a child
left over from a killed one) from training the same run at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from dreamavatar.batch.jobs import Job, JobResult, run_dir_state, step_done

STOP_GRACE_S = 60.0  # a stopped child's time to save its checkpoint and exit before it is killed
LOCK_WAIT_S = 30.0  # how long a job waits for the lock of its run directory (a previous child still saving)
PARENT_ENV = "DREAMAVATAR_BATCH_PARENT"  # the child's expected parent pid (see dreamavatar.batch.child)


class Busy(Exception):
    pass


@contextmanager
def run_lock(path: str) -> Iterator[int]:
    """An exclusive flock on `path` held while the block runs (and by any child given the descriptor)."""
    import fcntl

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Busy from None
                time.sleep(0.5)
        yield fd
    finally:
        os.close(fd)


def error_line(text: str, returncode: int) -> str:
    """The one line that says why a step failed: the command's own `error:` line, else a traceback's last line, else
    the signal or exit code."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("dreamavatar ") and ": error: " in line:
            return line.split(": error: ", 1)[1]
    if any(line.startswith("Traceback") for line in lines):
        return lines[-1]
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}" + (f": {lines[-1]}" if lines else "")


def _clear_empty(run_dir: Path) -> None:
    """Remove the empty folders a run stopped before its config.yaml leaves (so `generate` starts afresh)."""
    if run_dir.is_dir():
        for d in sorted(run_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            d.rmdir()
        run_dir.rmdir()


def _child(argv: list[str], log: IO[str], lock_fd: int, threads: int, cwd: str | None) -> tuple[int, str]:
    """`dreamavatar ARGV` in a child process, its output appended to `log`. A KeyboardInterrupt here (Ctrl-C, or
    Ray cancelling the task) is passed on as SIGINT, which makes the trainer save a checkpoint."""
    log.flush()
    start = os.fstat(log.fileno()).st_size
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **{PARENT_ENV: str(os.getpid())})
    proc = subprocess.Popen(
        [sys.executable, "-m", "dreamavatar.batch.child", "-v", *argv], stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, env=env, cwd=cwd if cwd and os.path.isdir(cwd) else None, pass_fds=(lock_fd,),
    )  # fmt: skip
    try:
        while proc.poll() is None:  # not proc.wait(): Ray's cancel interrupts only between Python bytecodes
            time.sleep(0.2)
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    if proc.returncode == 0:
        return 0, ""
    with open(log.name, "rb") as f:
        f.seek(start)
        return proc.returncode, error_line(f.read().decode("utf-8", "replace"), proc.returncode)


def _in_process(argv: list[str], log: IO[str]) -> tuple[int, str]:
    """`dreamavatar ARGV` in this process, its stdout and stderr sent to `log`."""
    import traceback
    from contextlib import redirect_stderr, redirect_stdout

    from dreamavatar.cli import parse_args, user_error_types

    with redirect_stdout(log), redirect_stderr(log):
        try:
            args = parse_args(argv)
            rc = int(args.func(args) or 0)
            return rc, "" if rc == 0 else f"exit code {rc}"
        except user_error_types() as e:
            print(f"dreamavatar {argv[0]}: error: {e}")
            return 2, str(e)
        except SystemExit as e:  # argparse
            return int(e.code or 0), f"bad arguments: {' '.join(argv)}"
        except Exception as e:
            traceback.print_exc()
            return 1, f"{type(e).__name__}: {e}"


def run_job(job: Job, in_process: bool = False) -> JobResult:
    """Run the steps of `job` that are not done; never raises for a failing step (KeyboardInterrupt passes)."""
    t0 = time.monotonic()
    result = JobResult(job.name, "done")
    try:
        with run_lock(job.lock) as lock_fd, open(job.log, "a", encoding="utf-8", buffering=1) as log:
            for step in job.steps:
                if step_done(job, step):
                    continue
                argv = step.argv
                if step.kind == "generate":
                    state = run_dir_state(job.run_dir)
                    if state == "foreign":
                        result.status = "failed"
                        result.error = (f"{job.run_dir} holds files that are not a dreamavatar run: move them away "
                                        "or give another --out")  # fmt: skip
                        break
                    if state == "unfinished":
                        argv, result.resumed = step.resume_argv or argv, True
                    else:
                        _clear_empty(Path(job.run_dir))
                log.write(f"\n== {time.strftime('%Y-%m-%d %H:%M:%S')} dreamavatar {' '.join(argv)}\n")
                log.flush()
                result.ran.append(step.kind)
                threads = max(1, int(job.cpus))
                rc, error = _in_process(argv, log) if in_process else _child(argv, log, lock_fd, threads, job.cwd)
                if rc != 0:
                    result.status, result.error = "failed", f"{step.kind}: {error}"
                    break
    except Busy:
        result.status = "failed"
        result.error = (f"another process is making {job.name} (it holds {job.lock}): let it finish or stop it, "
                        "then run the batch again")  # fmt: skip
    result.seconds = round(time.monotonic() - t0, 2)
    return result
