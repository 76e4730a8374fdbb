"""`dreamavatar batch`: a prompt set planned into runs (names, per-prompt extras, bad input refused before anything
is written); on local Ray, a batch killed after its first run and run again ends with every run complete and none
trained twice, and its contact sheet links every run; a bad prompt does not stop the others (on Ray and without)."""

from __future__ import annotations

import fcntl
import html
import importlib.util
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from dreamavatar.cli import main

RED = "a man wearing a red t-shirt and blue trousers"
YELLOW = "a woman wearing a yellow t-shirt and black trousers"
GREEN = "a man wearing a green shirt and gray trousers"

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs Ray: pip install -e '.[cluster]'")


@pytest.fixture(scope="module")
def fast(tmp_path_factory) -> list[str]:
    """Generate options small enough for CI; one stage-0 cache for the module (the first run fits it)."""
    cache = tmp_path_factory.mktemp("init-cache")
    return [
        "--steps", "2", "init.iterations=20", "init.resolution=32", "init.views=12", "init.rays_per_step=1024",
        f"init.cache_dir={cache}", "train.resolution=32", "train.turntable_frames=2", "train.turntable_size=32",
        "train.preview_size=32", "train.preview_every=0", "train.checkpoint_every=1",
    ]  # fmt: skip


# ---- planning: no run starts ----------------------------------------------------------------------------------------
def test_prompt_sets_from_text_files_and_yaml_extras(tmp_path):
    from prompts import PromptError, load_prompt_set

    txt = tmp_path / "crowd.txt"
    txt.write_text("# a crowd\na knight in armour\n\n  a chef in a white jacket  \n")
    s = load_prompt_set(str(txt))
    assert s.name == "crowd" and s.texts == ["a knight in armour", "a chef in a white jacket"]
    y = tmp_path / "set.yaml"
    y.write_text("prompts:\n  - {text: a robot, seed: 3, iou: true}\n  - a nurse\n")
    s = load_prompt_set(str(y), extra_keys=("seed",))
    assert s.prompts[0].extras == {"seed": 3} and s.prompts[0].iou and s.prompts[1].extras == {}
    with pytest.raises(PromptError, match="seed"):  # the library alone does not know batch keys
        load_prompt_set(str(y))


def test_plan_names_extras_and_chained_steps(tmp_path):
    from dreamavatar.batch.plan import plan_batch
    from dreamavatar.cli import parse_args

    motion = tmp_path / "moves" / "jig.bvh"
    motion.parent.mkdir()
    motion.write_text("not read at planning time")
    from prompts.parse import parse_prompt

    (tmp_path / "knight.yaml").write_text(parse_prompt("a knight in red armour").to_yaml(compact=True))
    y = tmp_path / "set.yaml"
    y.write_text(
        "name: Mixed Set\nprompts:\n"
        f"  - {{text: '{RED}', seed: 7, steps: 30, motion: moves/jig.bvh, export: glb}}\n"
        f"  - {{text: '{RED}', overrides: [train.lr=0.002]}}\n"  # the same words again: -2
        "  - {text: a knight, name: sir-k, export: ply, spec: knight.yaml}\n"
        "  - {text: a nurse, name: nurse, export: vrm, motion: dance}\n"
    )
    args = parse_args(["batch", str(y), "--then", "animate", "--motion", "dance", "--seed", "1", "sds.guidance_scale=9"])
    b = plan_batch(args)
    assert b.out == Path("outputs/mixed-set").resolve() and not b.sd
    a, a2, k, v = b.jobs
    assert a.name == "a-man-wearing-a-red-t-shirt-and-blue-trousers" and a2.name == a.name + "-2" and k.name == "sir-k"
    gen = a.steps[0].argv
    assert gen[:2] == ["generate", RED] and gen[gen.index("--seed") + 1] == "7" and gen[gen.index("--steps") + 1] == "30"
    assert "sds.guidance_scale=9" in gen and a.min_steps == 30
    assert a.steps[0].resume_argv[-2:] == ["--steps", "30"] and "--resume" in a.steps[0].resume_argv
    assert [s.kind for s in a.steps] == ["generate", "animate", "export"]
    assert a.steps[1].argv[a.steps[1].argv.index("--motion") + 1] == str(motion)  # relative to the YAML's folder
    assert a.steps[2].argv[-3:] == ["--rigged", "--motion", str(motion)] and a.steps[2].output.endswith("avatar.glb")
    assert "train.lr=0.002" in a2.steps[0].argv and a2.steps[0].argv[a2.steps[0].argv.index("--seed") + 1] == "1"
    assert a2.steps[1].argv[a2.steps[1].argv.index("--motion") + 1] == "dance"  # --then animate with --motion
    assert [s.kind for s in k.steps] == ["generate", "animate", "export"] and k.steps[2].output.endswith("avatar.ply")
    assert "--rigged" not in k.steps[2].argv
    assert k.steps[0].argv[k.steps[0].argv.index("--spec") + 1] == str(tmp_path / "knight.yaml")
    assert v.steps[1].argv[v.steps[1].argv.index("--motion") + 1] == "dance" and v.steps[2].output.endswith("avatar.vrm")
    assert "--motion" not in v.steps[2].argv  # a VRM carries no animation (export refuses --motion with vrm)


@pytest.mark.parametrize(
    "entry, words",
    [
        ("{text: a robot, seed: -1}", "seed"),
        ("{text: a robot, steps: 0}", "steps"),
        ("{text: a robot, export: fbx}", "glb"),
        ("{text: a robot, motion: moonwalk}", "dreamavatar motions"),
        ("{text: a robot, name: ../up}", "folder name"),
        ("{text: a robot, overrides: train.lr=1}", "list of key=value"),
        ("{text: a robot, overrides: [train.lrr=1]}", "lrr"),
        ("{text: a robot, colour: red}", "unknown key"),
        ("{text: a robot, spec: nowhere.yaml}", "does not exist"),
        ("{text: a robot, spec: bad-spec.yaml}", "body.height = 7"),
    ],
)
def test_bad_prompt_sets_exit_2_before_anything_is_written(entry, words, tmp_path, capsys):
    (tmp_path / "bad-spec.yaml").write_text("body: {height: 7}\n")
    y = tmp_path / "set.yaml"
    y.write_text(f"prompts:\n  - a nurse\n  - {entry}\n")
    assert main(["batch", str(y), "--out", str(tmp_path / "out"), "--no-ray"]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_address_without_ray_names_the_install(tmp_path, capsys, monkeypatch):
    import dreamavatar.batch.cluster as cluster

    monkeypatch.setattr(cluster, "ray_available", lambda: False)
    assert main(["batch", "colors", "--address", "auto", "--out", str(tmp_path / "out")]) == 2
    assert "pip install -e '.[cluster]'" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_error_line_picks_the_reason():
    from dreamavatar.batch.task import error_line

    log = "INFO x\ndreamavatar generate: error: no tiny prior weights in /x: reinstall\n"
    assert error_line(log, 2) == "no tiny prior weights in /x: reinstall"
    tb = "Traceback (most recent call last):\n  File \"x\", line 1\nRuntimeError: out of memory\n"
    assert error_line(tb, 1) == "RuntimeError: out of memory"
    assert error_line("", -9) == "killed by SIGKILL"


# ---- runs ---------------------------------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src"):
                self.links.append((tag, v))


def _sheet_links(out: Path) -> list[tuple[str, str]]:
    p = _Links()
    p.feed((out / "index.html").read_text())
    return p.links


def _step_of(ckpt: Path) -> int | None:
    return int(torch.load(ckpt, map_location="cpu", weights_only=False)["step"]) if ckpt.is_file() else None


@needs_ray
@pytest.mark.slow
def test_killed_batch_run_again_completes_every_run_once(tmp_path, fast):
    # red finishes first; yellow is mid-training when it does (measured: at step 7, so 14 leaves a wide margin)
    names = {"red": 2, "yellow": 14, "green": 2}
    y = tmp_path / "trio.yaml"
    y.write_text(f"prompts:\n  - {{text: '{RED}', name: red}}\n  - {{text: '{YELLOW}', name: yellow, steps: 14}}\n"
                 f"  - {{text: '{GREEN}', name: green, seed: 3}}\n")  # fmt: skip
    out = tmp_path / "out"
    argv = ["batch", str(y), "--out", str(out), "--workers", "2", "--no-progress", *fast]
    with open(tmp_path / "first.err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "dreamavatar", *argv], stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 600
        while not any((out / n / "run.json").is_file() for n in names):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "first.err").read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)  # `kill`: handled as Ctrl-C, every running prompt saves a checkpoint
        assert proc.wait(timeout=180) == 130, (tmp_path / "first.err").read_text()
    finished = {n for n in names if (out / n / "run.json").is_file()}
    unfinished = set(names) - finished
    assert finished and unfinished
    stamps = {n: [(out / n / f).stat().st_mtime_ns for f in ("run.json", "checkpoints/last.pt", "turntable.mp4")]
              for n in finished}  # fmt: skip
    at_kill = {n: _step_of(out / n / "checkpoints/last.pt") for n in unfinished}
    history_at_kill = {n: torch.load(out / n / "checkpoints/last.pt", weights_only=False)["history"]
                       for n in unfinished if at_kill[n]}  # fmt: skip
    for n in names:  # no child of the killed batch is still at work: every run's lock is free
        if (out / "logs" / f"{n}.lock").exists():
            with open(out / "logs" / f"{n}.lock") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)

    assert main(argv) == 0
    summary = {r["name"]: r for r in json.loads((out / "summary.json").read_text())["runs"]}
    for n, steps in names.items():
        run = json.loads((out / n / "run.json").read_text())
        assert run["steps"] == steps and summary[n]["status"] == "done"
        history = torch.load(out / n / "checkpoints/last.pt", weights_only=False)["history"]
        assert [h["step"] for h in history] == list(range(1, steps + 1)), n  # each step trained once
    for n in finished:  # untouched by the second batch
        assert summary[n]["ran"] == [] and stamps[n] == [
            (out / n / f).stat().st_mtime_ns for f in ("run.json", "checkpoints/last.pt", "turntable.mp4")]
    for n in unfinished:
        assert summary[n]["ran"] == ["generate"]
        if at_kill[n]:  # continued from the checkpoint saved at the kill, not started again
            assert summary[n]["resumed"] and f"at step {at_kill[n]}" in (out / "logs" / f"{n}.log").read_text()
            final = torch.load(out / n / "checkpoints/last.pt", weights_only=False)["history"]
            assert final[: at_kill[n]] == history_at_kill[n]

    links = _sheet_links(out)
    for n in names:  # the contact sheet shows and links every run, and every link resolves offline
        assert ("a", f"{n}/") in links and ("video", f"{n}/turntable.mp4") in links
        assert ("img", f"sheet/{n}.front.png") in links and ("img", f"sheet/{n}.back.png") in links
    for _, href in links:
        assert (out / href).exists(), href
    import numpy as np
    from PIL import Image

    bg = 255 * np.array(torch.load(out / "red/checkpoints/last.pt", weights_only=False)["background_color"])
    for view in ("front", "back"):  # a render panel (the prior's plain background, the avatar inside), not a skeleton
        img = np.asarray(Image.open(out / f"sheet/red.{view}.png"), dtype=float)
        assert img.shape == (32, 32, 3) and np.abs(img[0, 0] - bg).max() < 3 and np.abs(img[0, -1] - bg).max() < 3
        assert (np.abs(img - bg).max(-1) > 30).mean() > 0.05, view
    _SHEETS.append(out)


_SHEETS: list[Path] = []  # the finished batch above, for the browser test


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_contact_sheet_opens_offline_in_a_browser(tmp_path):
    """Headless chromium opens DIR/index.html from the disk: every image decodes and every turntable plays."""
    if not _SHEETS:
        pytest.skip("needs the finished batch of the test above")
    out = _SHEETS[0]
    probe = """<script>window.addEventListener('load', async () => {
      const vids = [...document.querySelectorAll('video')];
      await Promise.all(vids.map(v => v.readyState >= 1 ? 0 : new Promise(r => { v.onloadedmetadata = r; v.onerror = r; })));
      document.body.dataset.check = JSON.stringify({imgs: [...document.images].map(i => i.naturalWidth),
                                                    vids: vids.map(v => v.videoWidth)});
    });</script>"""
    page = out / "probe.html"  # the sheet plus a probe, beside it so that its relative links mean the same
    page.write_text((out / "index.html").read_text().replace("</body>", probe + "</body>"))
    dom = subprocess.run(
        [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    found = re.search(r'data-check="([^"]*)"', dom)
    assert found, dom[-2000:]
    check = json.loads(html.unescape(found.group(1)))
    assert check["imgs"] == [32] * 6 and check["vids"] == [32] * 3, check


def _bad_prompt_set(tmp_path: Path) -> Path:
    y = tmp_path / "set.yaml"
    y.write_text(f"prompts:\n  - {{text: '{RED}', name: red}}\n"
                 f"  - {{text: a robot, name: bad, overrides: ['prior.guidance.weights={tmp_path}/no-weights']}}\n"
                 f"  - {{text: '{GREEN}', name: green}}\n")  # fmt: skip
    return y


def _check_failure_reported(out: Path, err: str, done: set[str]) -> None:
    assert "1 of " in err and "bad: generate: no tiny prior weights" in err and "logs/bad.log" in err, err
    summary = {r["name"]: r for r in json.loads((out / "summary.json").read_text())["runs"]}
    assert summary["bad"]["status"] == "failed" and "no tiny prior weights" in summary["bad"]["error"]
    assert not (out / "bad").exists()
    for n in done:
        assert summary[n]["status"] == "done" and (out / n / "run.json").is_file()
    assert "no tiny prior weights" in (out / "index.html").read_text()
    for _, href in _sheet_links(out):  # failed prompts included: no link to a file that is not there
        assert (out / href).exists(), href


@needs_ray
@pytest.mark.slow
def test_a_bad_prompt_does_not_stop_the_others_on_ray(tmp_path, fast, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(_bad_prompt_set(tmp_path)), "--out", str(out), "--workers", "2", "--no-progress",
                 *fast]) == 2  # fmt: skip
    cap = capsys.readouterr()
    _check_failure_reported(out, cap.err, {"red", "green"})
    assert cap.out.splitlines() == [str(out / "red"), str(out / "green"), str(out / "index.html")]


@pytest.mark.slow
def test_without_ray_prompts_run_one_after_another_in_process(tmp_path, fast, capsys, monkeypatch):
    import dreamavatar.batch.cluster as cluster

    monkeypatch.setattr(cluster, "ray_available", lambda: False)
    y = _bad_prompt_set(tmp_path)
    y.write_text("\n".join(y.read_text().splitlines()[:3]) + "\n")  # red and bad
    out = tmp_path / "out"
    assert main(["batch", str(y), "--out", str(out), "--workers", "2", "--no-progress", *fast]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Ray is not installed") and "pip install -e '.[cluster]'" in err
    _check_failure_reported(out, err, {"red"})
    assert json.loads((out / "summary.json").read_text())["ray"] is False
