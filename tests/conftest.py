"""Shared fixtures. Tests run on CPU with no network; anything heavy is built once per session."""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting are many times slower on shared cores; must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def anny_body():
    """The default body model (anny), built once per test session (the first build ever takes about 80 s)."""
    from dreamavatar.body import load_body

    return load_body("anny")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A quick `generate` run of the tiny preset (4 steps, short stage 0), shared by every test that needs an avatar;
    its turntable is long enough to be rendered from the baked grid."""
    from dreamavatar.train.trainer import TURNTABLE_BAKE_FRAMES
    from runs import generate

    tmp = tmp_path_factory.mktemp("e2e")
    assert generate(tmp / "run", 4, tmp, f"train.turntable_frames={TURNTABLE_BAKE_FRAMES}") == 0
    return tmp / "run"


@pytest.fixture(scope="session")
def exports(run_dir, tmp_path_factory):
    """The session run exported through the command line as GLB (rigged, animated), VRM, textured GLB and PLY."""
    from runs import export_all

    return export_all(run_dir, tmp_path_factory.mktemp("exports"))
