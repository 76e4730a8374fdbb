"""Atomic writes (`dreamavatar.io`, built on `renderers.io.atomic_path`; `priors.io` is the priors' own copy): the
target appears whole or not at all, keeps its suffix for writers that choose a format by it, and is readable."""

from __future__ import annotations

import stat

import numpy as np
import pytest

from dreamavatar.io import atomic_image, atomic_path, atomic_write
from priors.io import atomic_path as priors_atomic_path


@pytest.mark.parametrize("helper", [atomic_path, priors_atomic_path])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, helper):
    target = tmp_path / "sub" / "weights.bin"
    with helper(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".bin" and not target.exists()
        tmp.write_bytes(b"first")
    assert target.read_bytes() == b"first" and stat.S_IMODE(target.stat().st_mode) == 0o644
    with pytest.raises(RuntimeError):
        with helper(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"first" and sorted(p.name for p in target.parent.iterdir()) == ["weights.bin"]


def test_writers_by_file_object_and_by_suffix(tmp_path):
    from PIL import Image

    atomic_write(tmp_path / "a.npz", lambda f: np.savez(f, x=np.arange(3)))
    assert np.load(tmp_path / "a.npz")["x"].tolist() == [0, 1, 2]
    img = (np.arange(4 * 5 * 3) % 256).astype(np.uint8).reshape(4, 5, 3)
    atomic_image(img, tmp_path / "b.png")  # PIL picks PNG from the temporary file's suffix
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.png"]
