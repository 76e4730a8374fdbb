"""Atomic file writes for `renderers` (videos): a reader never sees half a file. `dreamavatar.io` builds on this."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator


# `.NAME.<mkstemp's random letters>.tmp<NAME's suffix>`: what atomic_path makes, and what a cleaner may delete
_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{6,}\.tmp(\.[^./]+)?")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of atomic_path's temporary files (left behind only by a killed process)."""
    return _TEMPORARY.fullmatch(name) is not None


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside `path`, ending in the same suffix (writers that choose a format by extension
    still work); when the block ends it is flushed to disk and renamed over `path`, or removed after an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes 0600; an output should be readable like any other file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
