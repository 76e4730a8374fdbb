"""The first run on a fresh machine: the announcement of anny's first model build (about 80 s on 2 cores), decided
without importing torch or anny (the two take seconds), so a fresh machine says what it is doing at once.

anny caches its model data under ANNY_CACHE_DIR (default ~/.cache/anny, as anny reads it); once that is there, the
body data derived from it (`dreamavatar.body.anny_body`) takes about a second and needs no announcement.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

FIRST_BUILD = "building the anny body model (first run only, about 80 s on 2 cores)"
_announced = threading.Event()  # set while the command line's announcement watches the build
_finished = threading.Event()  # set by the builder when it is done


def anny_cache_dir() -> Path:
    return Path(os.environ.get("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "anny")))


def anny_built() -> bool:
    """Whether anny's own model data is cached (then our body data, if missing, takes about a second to derive)."""
    return any(anny_cache_dir().glob("*/build_compact_model_data_*.safetensors"))


def announce_first_build(every: float = 5.0) -> bool:
    """If anny's model data is not cached yet (a fresh machine: about 80 s ahead), say so on stderr now and every
    `every` seconds until the body is built (a daemon thread). Returns whether it announced."""
    if anny_built():  # nothing slow ahead: our own body data, if missing, takes about a second
        return False
    print(FIRST_BUILD, file=sys.stderr, flush=True)
    t0 = time.monotonic()
    _announced.set()

    def watch() -> None:
        while not _finished.wait(every):
            print(f"  ... still building the anny body model ({time.monotonic() - t0:.0f} s)", file=sys.stderr,
                  flush=True)  # fmt: skip
        print(f"  body model ready in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        _announced.clear()

    threading.Thread(target=watch, daemon=True).start()
    return True


def announced() -> bool:
    """Whether the build needs no line of its own: the command line's announcement already watches it, or anny's data
    is cached and the build takes about a second."""
    return _announced.is_set() or anny_built()


def build_finished() -> None:
    """The builder's word that the body data is ready: the announcement stops."""
    _finished.set()
