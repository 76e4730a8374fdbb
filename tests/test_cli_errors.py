"""The hostile matrix: what a careless or hostile user can hand the command line, each case run in-process.

Every case must end with exit code 2, no traceback, one error line naming the fix as the last line of stderr (the
only line, except argparse's usage), no file created or changed that was not there before, and no code run by a
pickle (a marker file its payload would create). Files that run code are the real thing: pickles whose
`__reduce__` calls `os.system`.
"""

from __future__ import annotations

import os
import pickle
import re
import shlex
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamavatar.cli import main

PROMPT = "a man wearing a red t-shirt"
ERROR_LINE = re.compile(r"^dreamavatar( [a-z-]+)?: error: \S")
SMALL = ["init.iterations=20", "init.resolution=32", "init.views=8", "train.resolution=32", "train.preview_every=0"]


class _RunsCode:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _run_dir(root: Path, config: str | None = None, checkpoint: bytes | None = None) -> Path:
    (root / "checkpoints").mkdir(parents=True)
    if config is not None:
        (root / "config.yaml").write_text(config)
    if checkpoint is not None:
        (root / "checkpoints" / "last.pt").write_bytes(checkpoint)
    return root


def _torch_bytes(obj: object, path: Path) -> bytes:
    torch.save(obj, path)
    data = path.read_bytes()
    path.unlink()
    return data


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Good and bad run directories, motions, scenes and configs, made once."""
    from omegaconf import OmegaConf

    from dreamavatar.field.avatar import AvatarField
    from dreamavatar.run_config import build_config

    w = tmp_path_factory.mktemp("hostile")
    marker = w / "MARKER"
    cfg = build_config("tiny", SMALL, flags={"prompt": PROMPT})
    config = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    avatar = AvatarField(cfg.avatar)
    good = {"step": 0, "avatar": avatar.state_dict(), "background": None, "background_color": [0.5, 0.5, 0.5],
            "optimizer": {}, "generator": torch.Generator().get_state(), "torch_rng": torch.get_rng_state()}  # fmt: skip
    other = AvatarField(build_config("tiny", ["avatar.nerf.hidden=16"]).avatar)
    _run_dir(w / "run", config, _torch_bytes(good, w / "x.pt"))
    full = _torch_bytes(good, w / "x.pt")
    _run_dir(w / "trunc", config, full[: len(full) // 3])
    _run_dir(w / "emptyckpt", config, b"")
    _run_dir(w / "evil", config, _torch_bytes({**good, "avatar": _RunsCode(marker)}, w / "x.pt"))
    _run_dir(w / "evilpickle", config, pickle.dumps({"avatar": _RunsCode(marker)}))  # a plain pickle, not torch's zip
    _run_dir(w / "notdict", config, _torch_bytes([1, 2, 3], w / "x.pt"))
    _run_dir(w / "noavatar", config, _torch_bytes({"step": 3}, w / "x.pt"))
    _run_dir(w / "mismatch", config, _torch_bytes({**good, "avatar": other.state_dict()}, w / "x.pt"))
    _run_dir(w / "nockpt", config)
    _run_dir(w / "noconfig", None, full)
    _run_dir(w / "badyaml", "prompt: [unclosed\ntrain: {steps: 3\n", full)
    _run_dir(w / "badchoice", config.replace("shading: albedo", "shading: shiny"), full)
    _run_dir(w / "unknownkey", config + "colour: red\n", full)
    (w / "emptydir").mkdir()
    (w / "dir.mp4").mkdir()
    (w / "afile").write_text("not a folder\n")

    m = w / "motions"
    m.mkdir()
    poses, transl = np.zeros((10, 24, 3)), np.zeros((10, 3))
    np.savez(m / "ok.npz", poses=poses, transl=transl, fps=np.float64(30), name="ok")
    (m / "truncated.npz").write_bytes((m / "ok.npz").read_bytes()[:200])
    np.savez(m / "nan.npz", poses=np.full((10, 24, 3), np.nan), transl=transl, fps=np.float64(30), name="nan")
    np.savez(m / "zero.npz", poses=np.zeros((0, 24, 3)), transl=np.zeros((0, 3)), fps=np.float64(30), name="z")
    np.save(m / "wrong.npy", np.zeros((10, 7)))
    (m / "empty.npz").write_bytes(b"")
    (m / "empty.bvh").write_text("")
    (m / "motion.txt").write_text("walk\n")
    with open(m / "evil.pkl", "wb") as f:
        pickle.dump({"smpl_poses": _RunsCode(marker)}, f)
    np.savez(m / "evil.npz", poses=np.array([_RunsCode(marker)], dtype=object), trans=transl)

    s = w / "scenes"
    s.mkdir()
    avatar_line = f"avatars:\n  - run: {w / 'run'}\n    motion: walk\n"
    scenes = {
        "malformed": "fps: 30\navatars: [\n",
        "list": "- a\n- b\n",
        "noavatars": "fps: 30\n",
        "frames": "frames: -5\n" + avatar_line,
        "fps": "fps: 0\n" + avatar_line,
        "size": "size: [100, 100]\n" + avatar_line,
        "huge": "size: 100000\n" + avatar_line,
        "kind": "camera: {kind: orbitt}\n" + avatar_line,
        "bake": "bake: -1\n" + avatar_line,
        "unknown": "colour: red\n" + avatar_line,
        "position": avatar_line + "    position: [1, 2]\n",
        "norun": f"avatars:\n  - run: {w / 'nope'}\n",
        "evilrun": f"avatars:\n  - run: {w / 'evil'}\n",
        "motion": f"avatars:\n  - run: {w / 'run'}\n    motion: moonwalk\n",
        "ok": avatar_line,
    }
    for name, text in scenes.items():
        (s / f"{name}.yaml").write_text(text)
    (w / "bad.yaml").write_text("train:\n  steps: [3\n")
    (w / "list.yaml").write_text("- 1\n- 2\n")
    (w / "unknown.yaml").write_text("train:\n  lrr: 1\n")
    (w / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    specs = {"malformed": "body: [1,\n", "list": "- a\n", "unknown": "colour: red\nbody: {}\n",
             "body": "body: {height: 7}\n", "garment": "garments: [{kind: hoodie}]\n", "empty": ""}  # fmt: skip
    for name, text in specs.items():
        (w / f"spec-{name}.yaml").write_text(text)
    (w / "spec-binary.yaml").write_bytes(b"\xff\xfe\x00body: {}")
    return w


# (id, argv with {w} for the world folder, words the error line must hold); argparse's own errors are marked with
# a leading "usage:" in the words (argparse prints its usage line first)
CASES = [
    # generate: prompts, steps, config values, choices and ranges
    ("empty-prompt", ["generate", "  "], "prompt is empty"),
    ("steps-0", ["generate", PROMPT, "--steps", "0"], "positive number of steps"),
    ("steps-negative", ["generate", PROMPT, "--steps", "-3"], "positive number of steps"),
    ("steps-word", ["generate", PROMPT, "--steps", "many"], "usage:invalid int value"),
    ("train.steps=0", ["generate", PROMPT, "train.steps=0"], "train.steps=0 is out of range"),
    ("weighting", ["generate", PROMPT, "sds.weighting=sdss"], "did you mean sds.weighting=sds"),
    ("shading", ["generate", PROMPT, "avatar.nerf.shading=foo"], "use one of albedo, lambertian"),
    ("background", ["generate", PROMPT, "train.background=mpl"], "did you mean train.background=mlp"),
    ("body-override", ["generate", PROMPT, "body=smlp"], "did you mean body=smpl"),
    ("body-flag", ["generate", PROMPT, "--body", "smlp"], "usage:invalid choice"),
    ("device", ["generate", PROMPT, "device=tpu"], "use one of auto, cpu, cuda"),
    ("device-cuda", ["generate", PROMPT, "device=cuda"], "no CUDA GPU"),
    ("knn", ["generate", PROMPT, "avatar.deformation.knn=kd"], "use one of auto, pykdtree, kdtree, torch"),
    ("grid-impl", ["generate", PROMPT, "avatar.nerf.grid.implementation=cuda"], "use one of torch, tcnn"),
    ("t_min", ["generate", PROMPT, "sds.t_min=2"], "sds.t_min=2.0 is out of range"),
    ("betas", ["generate", PROMPT, "train.betas=[0.9,1.5]"], "less than 1"),
    ("betas-length", ["generate", PROMPT, "train.betas=[0.9]"], "must hold 2 values"),
    ("radius-pair", ["generate", PROMPT, "train.cameras.radius=[3,1]"], "low <= high"),
    ("checkpoint_every", ["generate", PROMPT, "train.checkpoint_every=0"], "checkpoint_every=0 is out of range"),
    ("batch", ["generate", PROMPT, "train.batch=0"], "train.batch=0 is out of range"),
    ("lr-nan", ["generate", PROMPT, "train.lr=nan"], "not a number"),
    ("precision", ["generate", PROMPT, "train.precision=fp8"], "use one of fp32, bf16, fp16"),
    ("early-stop", ["generate", PROMPT, "train.early_stop=2"], "train.early_stop=2.0 is out of range"),
    ("preset-unknown", ["generate", PROMPT, "--preset", "huge"], "do not go together"),
    ("vram-tiny", ["generate", PROMPT, "--vram", "8"], "--vram sizes the Stable Diffusion presets"),
    ("sd-dtype", ["generate", PROMPT, "--prior", "someuser/sd", "prior.guidance.dtype=fp8"], "did you mean"),
    ("sd-option", ["generate", PROMPT, "--prior", "someuser/sd", "prior.guidance.colour=1"], "unknown option"),
    ("resolution-0", ["generate", PROMPT, "train.resolution=0"], "train.resolution=0 is out of range"),
    ("resolution-huge", ["generate", PROMPT, "train.resolution=100000"], "GiB to render"),
    ("preview-huge", ["generate", PROMPT, "train.preview_size=100000"], "GiB to render"),
    ("unknown-key", ["generate", PROMPT, "train.lrr=1"], "lrr"),
    ("wrong-type", ["generate", PROMPT, "train.lr=fast"], "train.lr"),
    ("smpl-dir-without-smpl", ["generate", PROMPT, "--smpl-dir", "{w}"], "--body smpl"),
    ("smpl-dir-override", ["generate", PROMPT, "smpl_dir={w}"], "--body smpl"),
    ("smpl-missing", ["generate", PROMPT, "--body", "smpl", "--smpl-dir", "{w}/emptydir"], "smpl.is.tue.mpg.de"),
    ("prior-missing-path", ["generate", PROMPT, "--prior", "/nonexistent/sd"], "does not exist"),
    ("prior-not-diffusers", ["generate", PROMPT, "--prior", "{w}/emptydir"], "not a diffusers"),
    ("prior-hub-on-cpu", ["generate", PROMPT, "--prior", "someuser/some-model"], "needs a CUDA GPU"),
    # generate: output folders and config files
    ("out-is-file", ["generate", PROMPT, "--out", "{w}/afile"], "is a file"),
    ("out-under-file", ["generate", PROMPT, "--out", "{w}/afile/run"], "is a file, not a folder"),
    ("out-proc", ["generate", PROMPT, "--out", "/proc/dreamavatar-run"], "cannot write in /proc"),
    ("out-exists", ["generate", PROMPT, "--out", "{w}/run"], "pass --resume"),
    ("config-malformed", ["generate", PROMPT, "--config", "{w}/bad.yaml"], "is not valid YAML"),
    ("config-list", ["generate", PROMPT, "--config", "{w}/list.yaml"], "holds a list"),
    ("config-binary", ["generate", PROMPT, "--config", "{w}/binary.yaml"], "binary.yaml"),
    ("config-missing", ["generate", PROMPT, "--config", "{w}/nope.yaml"], "does not exist"),
    ("config-unknown-key", ["generate", PROMPT, "--config", "{w}/unknown.yaml"], "lrr"),
    # generate --spec: the files `dreamavatar parse` writes, broken or edited badly
    ("spec-missing", ["generate", "--spec", "{w}/nope.yaml"], "does not exist"),
    ("spec-malformed", ["generate", "--spec", "{w}/spec-malformed.yaml"], "is not valid YAML"),
    ("spec-list", ["generate", "--spec", "{w}/spec-list.yaml"], "a spec is a mapping"),
    ("spec-binary", ["generate", "--spec", "{w}/spec-binary.yaml"], "is not UTF-8 text"),
    ("spec-empty", ["generate", "--spec", "{w}/spec-empty.yaml"], "is empty"),
    ("spec-unknown-key", ["generate", "--spec", "{w}/spec-unknown.yaml"], "unknown key(s) colour"),
    ("spec-body-range", ["generate", "--spec", "{w}/spec-body.yaml"], "body.height = 7: give a number in [0, 1]"),
    ("spec-garment-missing", ["generate", "--spec", "{w}/spec-garment.yaml"], "garments[0] needs region, color"),
    ("parse-empty", ["parse", "  "], "prompt is empty"),
    # generate --resume: what may change, and broken run directories
    ("resume-prompt", ["generate", "a woman", "--out", "{w}/run", "--resume"], "was made for the prompt"),
    ("resume-seed", ["generate", PROMPT, "--out", "{w}/run", "--resume", "--seed", "7"], "cannot change seed"),
    ("resume-body", ["generate", PROMPT, "--out", "{w}/run", "--resume", "--body", "smpl"], "cannot change body"),
    ("resume-prior", ["generate", PROMPT, "--out", "{w}/run", "--resume", "--prior", "someuser/sd"], "prior"),
    ("resume-avatar", ["generate", PROMPT, "--out", "{w}/run", "--resume", "avatar.nerf.hidden=32"],
     "cannot change avatar.nerf.hidden"),
    ("resume-background", ["generate", PROMPT, "--out", "{w}/run", "--resume", "train.background=mlp"],
     "cannot change train.background"),
    ("resume-preset", ["generate", PROMPT, "--out", "{w}/run", "--resume", "--preset", "sd15"],
     "cannot change preset"),
    ("resume-vram", ["generate", PROMPT, "--out", "{w}/run", "--resume", "--vram", "8"], "--vram sizes a new run"),
    ("resume-bad-value", ["generate", PROMPT, "--out", "{w}/run", "--resume", "train.lr=-1"], "out of range"),
    ("resume-truncated", ["generate", PROMPT, "--out", "{w}/trunc", "--resume"], "is unreadable"),
    ("resume-empty-ckpt", ["generate", PROMPT, "--out", "{w}/emptyckpt", "--resume"], "is unreadable"),
    ("resume-evil", ["generate", PROMPT, "--out", "{w}/evil", "--resume"], "can run code"),
    ("resume-evil-pickle", ["generate", PROMPT, "--out", "{w}/evilpickle", "--resume"], "can run code"),
    ("resume-not-dict", ["generate", PROMPT, "--out", "{w}/notdict", "--resume"], "not a dreamavatar checkpoint"),
    ("resume-mismatch", ["generate", PROMPT, "--out", "{w}/mismatch", "--resume"], "does not match"),
    ("resume-bad-yaml", ["generate", PROMPT, "--out", "{w}/badyaml", "--resume"], "is not valid YAML"),
    ("resume-bad-choice", ["generate", PROMPT, "--out", "{w}/badchoice", "--resume"], "shading=shiny"),
    # animate: run directories
    ("animate-missing", ["animate", "{w}/nope", "--motion", "walk"], "not a directory"),
    ("animate-file", ["animate", "{w}/afile", "--motion", "walk"], "not a directory"),
    ("animate-empty", ["animate", "{w}/emptydir", "--motion", "walk"], "not a dreamavatar run"),
    ("animate-no-ckpt", ["animate", "{w}/nockpt", "--motion", "walk"], "not a dreamavatar run"),
    ("animate-no-config", ["animate", "{w}/noconfig", "--motion", "walk"], "not a dreamavatar run"),
    ("animate-truncated", ["animate", "{w}/trunc", "--motion", "walk"], "is unreadable"),
    ("animate-empty-ckpt", ["animate", "{w}/emptyckpt", "--motion", "walk"], "is unreadable"),
    ("animate-evil", ["animate", "{w}/evil", "--motion", "walk"], "can run code"),
    ("animate-evil-pickle", ["animate", "{w}/evilpickle", "--motion", "walk"], "can run code"),
    ("animate-not-dict", ["animate", "{w}/notdict", "--motion", "walk"], "not a dreamavatar checkpoint"),
    ("animate-no-avatar", ["animate", "{w}/noavatar", "--motion", "walk"], "no avatar"),
    ("animate-mismatch", ["animate", "{w}/mismatch", "--motion", "walk"], "does not match the run's config"),
    ("animate-bad-yaml", ["animate", "{w}/badyaml", "--motion", "walk"], "is not valid YAML"),
    ("animate-bad-choice", ["animate", "{w}/badchoice", "--motion", "walk"], "config.yaml: avatar.nerf.shading=shiny"),
    ("animate-unknown-key", ["animate", "{w}/unknownkey", "--motion", "walk"], "colour"),
    # animate: motions
    ("motion-unknown", ["animate", "{w}/run", "--motion", "moonwalk"], "dreamavatar motions"),
    ("motion-missing-file", ["animate", "{w}/run", "--motion", "{w}/nope.npz"], "neither a built-in"),
    ("motion-truncated", ["animate", "{w}/run", "--motion", "{w}/motions/truncated.npz"], "not a readable npz"),
    ("motion-empty", ["animate", "{w}/run", "--motion", "{w}/motions/empty.npz"], "not a readable npz"),
    ("motion-nan", ["animate", "{w}/run", "--motion", "{w}/motions/nan.npz"], "NaN"),
    ("motion-no-frames", ["animate", "{w}/run", "--motion", "{w}/motions/zero.npz"], "no frames"),
    ("motion-wrong-shape", ["animate", "{w}/run", "--motion", "{w}/motions/wrong.npy"], "shape"),
    ("motion-empty-bvh", ["animate", "{w}/run", "--motion", "{w}/motions/empty.bvh"], "bvh"),
    ("motion-txt", ["animate", "{w}/run", "--motion", "{w}/motions/motion.txt"], "unknown format"),
    ("motion-evil-pkl", ["animate", "{w}/run", "--motion", "{w}/motions/evil.pkl"], "evil.pkl"),
    ("motion-evil-npz", ["animate", "{w}/run", "--motion", "{w}/motions/evil.npz"], "not a readable npz"),
    # animate: options and outputs
    ("frames-reversed", ["animate", "{w}/run", "--motion", "walk", "--frames", "5:2"], "frame"),
    ("frames-word", ["animate", "{w}/run", "--motion", "walk", "--frames", "abc"], "A:B"),
    ("frames-outside", ["animate", "{w}/run", "--motion", "walk", "--frames", "1000:2000"], "frame"),
    ("frames-empty", ["animate", "{w}/run", "--motion", "walk", "--frames", "0:0"], "frame"),
    ("size-100", ["animate", "{w}/run", "--motion", "walk", "--size", "100"], "multiple of 16"),
    ("size-0", ["animate", "{w}/run", "--motion", "walk", "--size", "0"], "multiple of 16"),
    ("size-negative", ["animate", "{w}/run", "--motion", "walk", "--size", "-16"], "multiple of 16"),
    ("size-huge", ["animate", "{w}/run", "--motion", "walk", "--size", "100000"], "GiB to render"),
    ("size-huge-skeleton", ["animate", "{w}/run", "--motion", "walk", "--size", "16000", "--skeleton"], "GiB"),
    ("fps-0", ["animate", "{w}/run", "--motion", "{w}/motions/wrong.npy", "--fps", "0"], "not positive"),
    ("fps-negative", ["animate", "{w}/run", "--motion", "walk", "--fps", "-30"], "not positive"),
    ("fps-nan", ["animate", "{w}/run", "--motion", "walk", "--fps", "nan"], "not positive"),
    ("bake-negative", ["animate", "{w}/run", "--motion", "walk", "--bake", "-1"], "--bake -1"),
    ("camera-choice", ["animate", "{w}/run", "--motion", "walk", "--camera", "drone"], "usage:invalid choice"),
    ("animate-out-txt", ["animate", "{w}/run", "--motion", "walk", "--out", "{w}/x.txt"], "must end in .mp4"),
    ("animate-out-dir", ["animate", "{w}/run", "--motion", "walk", "--out", "{w}/emptydir"], "must end in .mp4"),
    ("animate-out-dir-mp4", ["animate", "{w}/run", "--motion", "walk", "--out", "{w}/dir.mp4"], "is a folder"),
    ("animate-out-proc", ["animate", "{w}/run", "--motion", "walk", "--out", "/proc/x.mp4"], "cannot write"),
    ("animate-out-under-file", ["animate", "{w}/run", "--motion", "walk", "--out", "{w}/afile/x.mp4"], "is a file"),
    # export
    ("export-resolution-0", ["export", "{w}/run", "--resolution", "0"], "--resolution 0 is too coarse"),
    ("export-resolution-negative", ["export", "{w}/run", "--resolution", "-5"], "too coarse"),
    ("export-resolution-huge", ["export", "{w}/run", "--resolution", "100000"], "GiB for its grid"),
    ("export-threshold", ["export", "{w}/run", "--threshold", "-1"], "--threshold"),
    ("export-suffix", ["export", "{w}/run", "--out", "{w}/a.obj"], "does not end in .glb"),
    ("export-rigged-obj", ["export", "{w}/run", "--format", "obj", "--rigged"], "--rigged needs --format glb"),
    ("export-out-proc", ["export", "{w}/run", "--out", "/proc/x.glb"], "cannot write"),
    ("export-out-under-file", ["export", "{w}/run", "--out", "{w}/afile/x.glb"], "is a file"),
    ("export-missing", ["export", "{w}/nope"], "not a directory"),
    ("export-evil", ["export", "{w}/evil"], "can run code"),
    ("export-truncated", ["export", "{w}/trunc"], "is unreadable"),
    ("export-motion", ["export", "{w}/run", "--motion", "{w}/motions/nan.npz"], "NaN"),
    ("export-fps-0", ["export", "{w}/run", "--motion", "walk", "--fps", "0"], "not positive"),
    ("export-frames-alone", ["export", "{w}/run", "--frames", "0:4"], "add --motion"),
    ("export-format", ["export", "{w}/run", "--format", "fbx"], "usage:invalid choice"),
    # compose
    ("scene-missing", ["compose", "{w}/nope.yaml"], "does not exist"),
    ("scene-dir", ["compose", "{w}/emptydir"], "does not exist"),
    ("scene-malformed", ["compose", "{w}/scenes/malformed.yaml"], "is not valid YAML"),
    ("scene-list", ["compose", "{w}/scenes/list.yaml"], "holds a list"),
    ("scene-no-avatars", ["compose", "{w}/scenes/noavatars.yaml"], "lists no avatars"),
    ("scene-frames", ["compose", "{w}/scenes/frames.yaml"], "frames=-5 is out of range"),
    ("scene-fps", ["compose", "{w}/scenes/fps.yaml"], "fps=0"),
    ("scene-size", ["compose", "{w}/scenes/size.yaml"], "multiple of 16"),
    ("scene-huge", ["compose", "{w}/scenes/huge.yaml"], "GiB to render"),
    ("scene-kind", ["compose", "{w}/scenes/kind.yaml"], "did you mean camera.kind=orbit"),
    ("scene-bake", ["compose", "{w}/scenes/bake.yaml"], "bake=-1"),
    ("scene-unknown-key", ["compose", "{w}/scenes/unknown.yaml"], "colour"),
    ("scene-position", ["compose", "{w}/scenes/position.yaml"], "position"),
    ("scene-no-run", ["compose", "{w}/scenes/norun.yaml"], "not a directory"),
    ("scene-evil-run", ["compose", "{w}/scenes/evilrun.yaml"], "can run code"),
    ("scene-motion", ["compose", "{w}/scenes/motion.yaml"], "dreamavatar motions"),
    ("scene-out-txt", ["compose", "{w}/scenes/ok.yaml", "--out", "{w}/x.txt"], "must end in .mp4"),
    ("scene-out-proc", ["compose", "{w}/scenes/ok.yaml", "--out", "/proc/x.mp4"], "cannot write"),
    # sample
    ("sample-empty-prompt", ["sample", " ", "--out", "{w}/s.png"], "prompt is empty"),
    ("sample-size", ["sample", PROMPT, "--size", "100", "--out", "{w}/s.png"], "multiple of 16"),
    ("sample-size-huge", ["sample", PROMPT, "--size", "100000", "--out", "{w}/s.png"], "GiB to render"),
    ("sample-steps", ["sample", PROMPT, "--steps", "0", "--out", "{w}/s.png"], "--steps 0"),
    ("sample-guidance", ["sample", PROMPT, "--guidance", "-2", "--out", "{w}/s.png"], "--guidance"),
    ("sample-out-txt", ["sample", PROMPT, "--out", "{w}/s.txt"], "must end in .png"),
    ("sample-out-proc", ["sample", PROMPT, "--out", "/proc/s.png"], "cannot write"),
    ("sample-out-dir", ["sample", PROMPT, "--out", "{w}/emptydir"], "must end in .png"),
    ("sample-frame", ["sample", PROMPT, "--motion", "walk", "--frame", "100000", "--out", "{w}/s.png"], "--frame"),
    ("sample-motion", ["sample", PROMPT, "--motion", "{w}/motions/evil.pkl", "--out", "{w}/s.png"], "evil.pkl"),
    ("sample-fps", ["sample", PROMPT, "--motion", "walk", "--fps", "0", "--out", "{w}/s.png"], "not positive"),
    ("sample-smpl-dir", ["sample", PROMPT, "--smpl-dir", "{w}", "--out", "{w}/s.png"], "--body smpl"),
    ("sample-prior-missing", ["sample", PROMPT, "--prior", "/nonexistent/sd", "--out", "{w}/s.png"],
     "does not exist"),
    # skeleton
    ("skeleton-size", ["skeleton", "--motion", "walk", "--size", "17", "--out", "{w}/k.mp4"], "multiple of 16"),
    ("skeleton-size-huge", ["skeleton", "--motion", "walk", "--size", "100000", "--out", "{w}/k.mp4"], "GiB"),
    ("skeleton-out-txt", ["skeleton", "--motion", "walk", "--out", "{w}/k.txt"], "must end in .mp4"),
    ("skeleton-out-proc", ["skeleton", "--motion", "walk", "--out", "/proc/k.mp4"], "cannot write"),
    ("skeleton-fps", ["skeleton", "--motion", "walk", "--fps", "0", "--out", "{w}/k.mp4"], "not positive"),
    ("skeleton-out-fps", ["skeleton", "--motion", "walk", "--out-fps", "0", "--out", "{w}/k.mp4"], "not positive"),
    ("skeleton-smpl-dir", ["skeleton", "--motion", "walk", "--smpl-dir", "{w}", "--out", "{w}/k.mp4"], "--body smpl"),
    ("skeleton-smpl-missing", ["skeleton", "--motion", "walk", "--body", "smpl", "--smpl-dir", "{w}/emptydir",
                               "--out", "{w}/k.mp4"], "smpl.is.tue.mpg.de"),  # fmt: skip
    ("skeleton-motion", ["skeleton", "--motion", "{w}/motions/truncated.npz", "--out", "{w}/k.mp4"], "npz"),
    ("skeleton-frames", ["skeleton", "--motion", "walk", "--frames", "9:x", "--out", "{w}/k.mp4"], "A:B"),
    # face-curves
    ("curves-out-txt", ["face-curves", "--emotion", "happy", "--out", "{w}/c.txt"], "must end in .csv"),
    ("curves-out-proc", ["face-curves", "--emotion", "happy", "--out", "/proc/c.csv"], "cannot write"),
    ("curves-fps", ["face-curves", "--emotion", "happy", "--fps", "0", "--out", "{w}/c.csv"], "--fps 0"),
    ("curves-frames", ["face-curves", "--emotion", "happy", "--frames", "-5", "--out", "{w}/c.csv"], "--frames -5"),
    ("curves-no-input", ["face-curves", "--out", "{w}/c.csv"], "give a face input"),
    ("curves-emotion", ["face-curves", "--emotion", "hapy", "--out", "{w}/c.csv"], "hapy"),
    ("animate-no-motion", ["animate", "{w}/run"], "give --motion"),
    # the command line itself
    ("unknown-command", ["fly"], "usage:invalid choice"),
    ("unknown-option", ["motions", "--colour"], "usage:unrecognized arguments"),
    ("override-on-animate", ["animate", "{w}/run", "--motion", "walk", "train.lr=1"], "usage:unrecognized"),
]


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for r in roots for p in r.rglob("*")}


@pytest.mark.parametrize("name, argv, words", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_gets_one_message(world, name, argv, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a default output folder would land here
    monkeypatch.delenv("DREAMAVATAR_SMPL_DIR", raising=False)
    before = _snapshot(world, tmp_path)
    try:
        rc = main([a.replace("{w}", str(world)) for a in argv])
    except SystemExit as e:  # argparse
        rc = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert "Traceback" not in err
    assert lines and ERROR_LINE.match(lines[-1]), err
    usage = words.startswith("usage:")
    assert words.removeprefix("usage:") in lines[-1], err
    if not usage:
        assert len(lines) == 1, err
    assert not (world / "MARKER").exists(), "a pickle ran code"
    assert _snapshot(world, tmp_path) == before, "a failed command left or changed files"


# ---- the same contract through a real process (signals, logging and exit status as a user sees them) -------------


def _cli(args: list[str], env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dreamavatar", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})  # fmt: skip


@pytest.mark.slow
def test_unreachable_hub_fails_at_once_without_retries(tmp_path):
    """A hub id when the hub cannot be reached: the reachability probe's request (httpx tries a reset connection
    twice), then the message; the loaders' retries with back-off (minutes, hundreds of lines) never start."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    connections = []

    def serve():  # accept and hang up: the hub "cannot be reached"
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            connections.append(1)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{server.getsockname()[1]}", "HF_HUB_OFFLINE": "0",
           "TRANSFORMERS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf")}  # fmt: skip
    try:
        r = _cli(["sample", PROMPT, "--prior", "someuser/some-model", "--out", str(tmp_path / "s.png")], env)
    finally:
        server.close()
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "hub cannot be reached" in lines[-1] and len(lines) == 1, r.stderr
    assert 1 <= len(connections) <= 2, connections
    assert not (tmp_path / "s.png").exists()
