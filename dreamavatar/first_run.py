"""The first run on a fresh machine: where anny's body data is cached, and the announcement of its build, found
without importing torch or anny (the two take seconds), so a fresh machine says what it is doing at once.

The data is built once per shape and code version (`anny_body._build_rig_data`, about 80 s on 2 cores including
anny's own first build) under ANNY_CACHE_DIR (default ~/.cache/anny, as anny reads it) in `dreamavatar/`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

DEFAULT_PHENOTYPE = (0.5,) * 6  # the default body (AnnyBody.Config)
FIRST_BUILD = "building the anny body model (first run only, about 80 s on 2 cores)"
_announced = threading.Event()  # set while the command line's announcement watches the build
_finished = threading.Event()  # set by the builder when it is done (the cache may be unwritable)


def cache_file(phenotype: tuple[float, ...]) -> Path:
    """The cache file of one shape: keyed by the phenotype, anny's version and this package's building code."""
    here = Path(__file__).resolve().parent / "body"
    shape = hashlib.sha1(repr(tuple(float(p) for p in phenotype)).encode()).hexdigest()[:8]
    code = hashlib.sha1(version("anny").encode())
    for source in (here / "anny_body.py", here / "retarget.py"):  # any change to the building code invalidates it
        code.update(source.read_bytes())
    return anny_cache_dir() / "dreamavatar" / f"anny_body_{shape}_{code.hexdigest()[:12]}.pt"


def anny_cache_dir() -> Path:
    return Path(os.environ.get("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "anny")))


def anny_built() -> bool:
    """Whether anny's own model data is cached (then our body data, if missing, takes about a second to derive)."""
    return any(anny_cache_dir().glob("*/build_compact_model_data_*.safetensors"))


def announce_first_build(phenotype: tuple[float, ...] = DEFAULT_PHENOTYPE, every: float = 5.0) -> bool:
    """If the body of `phenotype` is not cached yet, say so on stderr now and every `every` seconds until its cache
    file appears (a daemon thread). Returns whether it announced."""
    path = cache_file(phenotype)
    if path.is_file() or anny_built():  # nothing slow ahead
        return False
    print(FIRST_BUILD, file=sys.stderr, flush=True)
    t0 = time.monotonic()
    _announced.set()

    def watch() -> None:
        while not path.is_file() and not _finished.is_set():
            if not _finished.wait(every) and not path.is_file():
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
