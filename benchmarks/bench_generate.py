"""The tiny preset for real: `dreamavatar generate` on prompts that name garment colours, then measured.

For each prompt of the `colors` set (the first N): seconds per run (stage 0 reused from the cache after the first),
the colour of the rendered top and bottom read at the places the skeleton locates (front and back views, canonical
pose) against the prompt's named colours, and the silhouette IoU of animated frames (built-in `walk` and `dance`,
opacity > 0.5) against the posed body mesh (ray cast). Goals: IoU >= 0.85; colour 90% (floor 80%).

    .venv/bin/python benchmarks/bench_generate.py [--prompts 3] [--steps 1200] [--out outputs/bench_generate] [key=value ...]

Trailing `key=value` arguments are config overrides passed to every `generate` (e.g. shape.inside=0 to measure
without the body-silhouette terms).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: `training` is not installed

import torch  # noqa: E402


# The colour words of the `colors` prompt set as sRGB (the tiny prior's first-generation palette).
COLOR_HEX = {
    "black": "#121212", "white": "#f5f5f5", "gray": "#808080", "red": "#d91414", "orange": "#ff8000",
    "yellow": "#fae01a", "green": "#1a9e26", "blue": "#1a38e6", "purple": "#801fad", "pink": "#ff7ab8",
    "brown": "#73421a", "cyan": "#0dc7d9",
}  # fmt: skip


def colour_match(loaded, top: str, bottom: str, size: int = 64) -> tuple[int, int, int]:
    """(top right, bottom right, views read) over front and back views of the canonical avatar: the chest and thigh
    probes of `training.synth.metrics` against the named colours (majority of each probe's points)."""
    from dreamavatar.condition import framing_radius
    from training.synth.metrics import color_right, read_probes
    from renderers.cameras import orbit_cameras, project
    from renderers.skeleton import keypoint_visibility

    out = loaded.body.canonical()
    cams = orbit_cameras(framing_radius(loaded.height), 90.0, torch.tensor([0.0, 180.0]), 45.0, size,
                         (0.0, loaded.center_y, 0.0))  # fmt: skip
    rgb = loaded.render(out, cams)["rgb"]
    kp = out.keypoints.float().expand(2, -1, -1)
    uv, _ = project(kp, cams)
    vis = keypoint_visibility(cams, [kp], [(out.vertices.float().expand(2, -1, -1), out.faces)])[0]
    t_ok = b_ok = 0
    for i in range(2):
        obs = read_probes(rgb[i], uv[i], vis[i])
        t_ok += obs["chest"] is not None and bool(color_right(obs["chest"], COLOR_HEX[top]).mean() >= 0.5)
        b_ok += obs["thighs"] is not None and bool(color_right(obs["thighs"], COLOR_HEX[bottom]).mean() >= 0.5)
    return t_ok, b_ok, 2


def animated_iou(loaded, motion_name: str, frames: int = 6, size: int = 128) -> tuple[float, float, float]:
    """Mean (IoU, precision, recall) of the avatar's opacity > 0.5 against the posed body's silhouette."""
    from dreamavatar.animation import motion_cameras
    from dreamavatar.motion import load_motion
    from renderers.raycast import mesh_silhouette

    motion = load_motion(motion_name)
    cams = motion_cameras(loaded, motion, size)
    rows = []
    for f in torch.linspace(0, len(motion) - 1, frames).long().tolist():
        out = loaded.pose(motion.poses[f : f + 1], motion.transl[f : f + 1])
        op = loaded.render(out, cams[f])["opacity"][0] > 0.5
        mask = mesh_silhouette(cams[f], out.vertices.float(), out.faces)[0]
        inter = float((op & mask).sum())
        rows.append((inter / max(float((op | mask).sum()), 1), inter / max(float(op.sum()), 1),
                     inter / max(float(mask.sum()), 1)))  # fmt: skip
    return tuple(sum(r[i] for r in rows) / len(rows) for i in range(3))


def main() -> None:
    from dreamavatar.avatar import load_avatar
    from dreamavatar.cli import main as cli
    from prompts import load_prompt_set

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--start", type=int, default=0, help="index of the first prompt of the colors set")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--out", default="outputs/bench_generate")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("overrides", nargs="*", help="config overrides for generate, key=value")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for i, p in list(enumerate(load_prompt_set("colors")))[args.start : args.start + args.prompts]:
        run = Path(args.out) / f"p{i:02d}"
        t0 = time.perf_counter()
        if not (run / "run.json").is_file():
            rc = cli(["generate", p.text, "--steps", str(args.steps), "--out", str(run), "--resume", *args.overrides])
            assert rc == 0, f"generate failed for {p.text!r}"
        seconds = time.perf_counter() - t0
        loaded = load_avatar(run, bake=0.01)
        t_ok, b_ok, n = colour_match(loaded, p.top, p.bottom)
        iou = {m: animated_iou(loaded, m) for m in ("walk", "dance")}
        rows.append({"prompt": p.text, "seconds": round(seconds, 1), "train_seconds": json.loads(
            (run / "run.json").read_text())["seconds"], "top": t_ok / n, "bottom": b_ok / n, **{f"{name}_{k}": round(v[j], 3)
            for k, v in iou.items() for j, name in enumerate(("iou", "precision", "recall"))}})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    n = len(rows)
    fresh = [r["seconds"] for r in rows if r["seconds"] > 1.0] or [float("nan")]  # runs reused from --out: not timed
    print(f"runs: {n}  mean seconds/run: {sum(fresh) / len(fresh):.1f}  "
          f"colour match top: {sum(r['top'] for r in rows) / n:.0%}  bottom: {sum(r['bottom'] for r in rows) / n:.0%}  "
          f"animated IoU walk: {sum(r['iou_walk'] for r in rows) / n:.3f}  dance: "
          f"{sum(r['iou_dance'] for r in rows) / n:.3f}  (goal >= 0.85)")  # fmt: skip


if __name__ == "__main__":
    main()
