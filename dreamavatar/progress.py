"""Saying what a long silent step is doing: a first line at once, then a line every few seconds until it ends.

For work with no progress of its own (anny's first body build, about 80 s): nothing on stderr stays silent for more
than `every` seconds. Light on purpose (no torch): the command line calls it before its heavy imports.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def heartbeat(what: str, every: float = 5.0, stream: TextIO | None = None) -> Iterator[None]:
    """Print `what` now, then "  ... still <what> (N s)" every `every` seconds while the block runs, and the time it
    took at the end (all on stderr unless `stream`)."""
    out = stream or sys.stderr
    t0 = time.monotonic()
    done = threading.Event()
    print(what, file=out, flush=True)

    def beat() -> None:
        while not done.wait(every):
            print(f"  ... still {what.split(' (')[0]} ({time.monotonic() - t0:.0f} s)", file=out, flush=True)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        print(f"  done in {time.monotonic() - t0:.0f} s", file=out, flush=True)
