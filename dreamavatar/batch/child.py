"""`python -m dreamavatar.batch.child ARGS`: `dreamavatar ARGS` as a batch task's child process.

Ray starts its workers with SIGINT blocked, and a blocked signal stays blocked across exec: unblocked here so that
stopping a task (SIGINT from `dreamavatar.batch.task`) reaches the trainer, which saves a checkpoint. On Linux the
child also gets SIGINT when its task process dies (PR_SET_PDEATHSIG), so a killed worker leaves no orphan training.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main() -> int:
    from dreamavatar.batch.task import PARENT_ENV

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    parent = int(os.environ.pop(PARENT_ENV, "0") or 0)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)
    if parent and os.getppid() != parent:  # the task died before the line above took effect
        return 130
    from dreamavatar.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
