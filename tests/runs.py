"""A quick `generate` run and its exports, shared by the end-to-end and export tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

from dreamavatar.cli import main

PROMPT = "a man wearing a red t-shirt and blue trousers"

_INIT_CACHE: list[Path] = []  # one stage-0 cache for the whole session (every run reuses the first fit)


def fast_overrides(tmp: Path) -> list[str]:
    """Small enough for CI: 32 px renders, a short stage 0 cached once for the session, tiny previews."""
    if not _INIT_CACHE:
        _INIT_CACHE.append(tmp / "init-cache")
    return [
        "init.iterations=60", "init.resolution=32", "init.views=12", "init.rays_per_step=1024",
        f"init.cache_dir={_INIT_CACHE[0]}", "train.resolution=32", "train.checkpoint_every=2",
        "train.preview_every=0", "train.preview_size=32", "train.turntable_frames=4", "train.turntable_size=32",
        "train.animate_from=0.5",
    ]  # fmt: skip


def generate(out: Path, steps: int, tmp: Path, *extra: str) -> int:
    """`extra`: options or overrides, after the fast ones (a later key=value wins)."""
    return main(["generate", PROMPT, "--steps", str(steps), "--out", str(out), "--no-progress",
                 *fast_overrides(tmp), *extra])  # fmt: skip


# The dance frames around its raised-arm frame (90): exported as an animation and checked for skin stretch.
DANCE_FRAMES = (80, 120)
RAISED_ARM_FRAME = 90 - DANCE_FRAMES[0]


def export_all(run_dir: Path, folder: Path) -> dict[str, Path]:
    """The files a user takes to other programs, through the command line: a rigged GLB with part of the dance, a VRM,
    a textured GLB with SMPL names, and a PLY. Keys: glb, vrm, textured, ply."""
    common = ["--resolution", "128", "--faces", "8000"]
    out = {k: folder / f"avatar-{k}.{ext}" for k, ext in
           (("glb", "glb"), ("vrm", "vrm"), ("textured", "glb"), ("ply", "ply"))}  # fmt: skip
    runs = {
        "glb": ["--format", "glb", "--rigged", "--motion", "dance", "--frames", "%d:%d" % DANCE_FRAMES],
        "vrm": ["--format", "vrm", "--meta", "authors=Test Author", "--meta", "avatarPermission=everyone"],
        "textured": ["--format", "glb", "--rigged", "--texture", "256", "--skeleton-names", "smpl"],
        "ply": ["--format", "ply"],
    }
    for key, args in runs.items():
        assert main(["export", str(run_dir), *args, *common, "--out", str(out[key])]) == 0, key
    return out
