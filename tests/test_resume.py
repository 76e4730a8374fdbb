"""Resume keeps its promise: a run stopped by Ctrl-C (SIGINT, mid-step, after the step drew random numbers) or
killed (SIGKILL, halfway through writing a checkpoint) and resumed ends exactly like an uninterrupted run of the same
seed: the same loss history and the same parameters, bit for bit (CPU). The interrupted runs are real processes that
signal themselves at a chosen point; the NaN stop names a command that continues the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dreamavatar.cli import main

pytestmark = pytest.mark.slow

PROMPT = "a man wearing a red t-shirt"
STEPS = 12

# Signals itself at a chosen point of a real `dreamavatar generate` (argv: mode, step, generate's arguments).
DRIVER = r"""
import io, os, signal, sys
import torch
torch.set_num_threads(int(os.environ["DREAMAVATAR_TEST_THREADS"]))
import priors.base
from dreamavatar.cli import main

mode, at, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
if mode == "sigint":  # Ctrl-C inside step `at`, after it drew its poses, cameras, timesteps and noise
    real_sds = priors.base.PosePrior.sds
    def sds(self, *a, step=None, **k):
        out = real_sds(self, *a, step=step, **k)
        if step == at:
            os.kill(os.getpid(), signal.SIGINT)
        return out
    priors.base.PosePrior.sds = sds
elif mode == "sigkill":  # killed halfway through writing the checkpoint of step `at`
    real_save = torch.save
    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and obj.get("step") == at and hasattr(f, "write"):
            buf = io.BytesIO()
            real_save(obj, buf, *a, **k)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            f.flush()
            os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, f, *a, **k)
    torch.save = save
sys.exit(main(argv))
"""


def _args(out: Path, cache: Path, *extra: str) -> list[str]:
    return ["generate", PROMPT, "--steps", str(STEPS), "--out", str(out), "--no-progress", "--seed", "3",
            "init.iterations=20", "init.resolution=32", "init.views=8", f"init.cache_dir={cache}",
            "train.resolution=32", "train.checkpoint_every=4", "train.preview_every=0", "train.preview_size=16",
            "train.turntable_frames=1", "train.turntable_size=16", *extra]  # fmt: skip


def _driver(mode: str, at: int, argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "DREAMAVATAR_TEST_THREADS": str(torch.get_num_threads())}
    return subprocess.run([sys.executable, "-c", DRIVER, mode, str(at), *argv], capture_output=True, text=True,
                          timeout=600, env=env)  # fmt: skip


def _final(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)


def _assert_same_run(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] == STEPS
    assert [(h["step"], h["loss"], h["grad_norm"], h["shape"]) for h in a["history"]] == [
        (h["step"], h["loss"], h["grad_norm"], h["shape"]) for h in b["history"]
    ]
    for key in a["avatar"]:
        assert torch.equal(a["avatar"][key], b["avatar"][key]), key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(a["generator"], b["generator"]) and torch.equal(a["torch_rng"], b["torch_rng"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """An uninterrupted run (it also fits and caches stage 0, which the others reuse)."""
    tmp = tmp_path_factory.mktemp("resume")
    assert main(_args(tmp / "full", tmp / "init")) == 0
    return tmp / "full", tmp / "init"


def test_ctrl_c_mid_step_then_resume_matches_an_uninterrupted_run(reference, tmp_path, capsys):
    full, cache = reference
    run = tmp_path / "sigint"
    r = _driver("sigint", 6, _args(run, cache))
    assert r.returncode == 130, r.stderr
    assert f"interrupted at step 6: resume with --resume --out {run}" in r.stderr and "Traceback" not in r.stderr
    saved = _final(run)
    assert saved["step"] == 6 and len(saved["history"]) == 6  # the step boundary before the interrupted step
    assert main(_args(run, cache, "--resume")) == 0
    _assert_same_run(_final(full), _final(run))


def test_kill_mid_checkpoint_write_then_resume_matches_and_cleans_up(reference, tmp_path, capsys):
    full, cache = reference
    run = tmp_path / "sigkill"
    r = _driver("sigkill", 8, _args(run, cache))
    assert r.returncode == -9, r.stderr
    stale = list((run / "checkpoints").glob(".last.pt.*.tmp.pt"))
    assert len(stale) == 1, list(run.rglob("*"))  # the half-written checkpoint, under a temporary name
    assert _final(run)["step"] == 4  # last.pt itself is the previous whole checkpoint
    assert main(_args(run, cache, "--resume")) == 0
    assert not list(run.rglob(".*.tmp*")), "a stale temporary file survived the resume"
    _assert_same_run(_final(full), _final(run))


def test_nan_stop_names_a_command_that_continues_the_run(reference, tmp_path, monkeypatch, capsys):
    """Two NaN steps stop the run; the error (not a progress bar) is the last line, and the command it names, typed
    into a shell, continues the run with a lower learning rate. The prompt holds a newline, which must survive."""
    from priors.base import PosePrior, SDSOutput

    _, cache = reference
    run = tmp_path / "nan"
    prompt = "a man wearing\na red t-shirt"
    argv = _args(run, cache)
    argv[1] = prompt
    argv.remove("--no-progress")  # the progress bar must not be the last line
    real = PosePrior.sds

    def broken(self, *a, step=None, **k):
        out = real(self, *a, step=step, **k)
        return SDSOutput(out.loss * float("nan"), out.grad_norm, out.timesteps) if step >= 5 else out

    monkeypatch.setattr(PosePrior, "sds", broken)
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines[-1].startswith("dreamavatar generate: error: training diverged"), lines[-3:]
    command = lines[-1].split("with a lower one: ", 1)[1]
    assert command.startswith("dreamavatar generate ")
    words = subprocess.run(["bash", "-c", "printf '%s\\0' " + command.removeprefix("dreamavatar ")],
                           capture_output=True, text=True, check=True).stdout.split("\0")[:-1]  # fmt: skip
    assert words[1] == prompt and "--resume" in words
    monkeypatch.setattr(PosePrior, "sds", real)
    assert main(words) == 0
    summary = json.loads((run / "run.json").read_text())
    assert summary["steps"] == STEPS and summary["prompt"] == prompt and summary["rolled_back"] is False
    lr = float(next(w for w in words if w.startswith("train.lr=")).split("=")[1])
    assert lr == pytest.approx(1e-3 / 4, rel=1e-2)  # half the halved rate
