"""The tiny preset for real: `dreamavatar generate` on prompts of different kinds, then measured.

For each prompt (`PROMPTS`: a dress, armour with a cape, a coat, a child, a heavy body, a hat, a two-colour pattern,
a named character, and the README's red/blue prompt): seconds per run, and on the finished avatar
  - colours: the chest and thigh probes of `training.synth.metrics` (the readers of the tiny prior's benchmark) on
    front and back views of the canonical avatar against the garment the run's spec puts there (right when the
    shading-tolerant CIELAB distance is within tolerance for the majority of a probe's points);
  - shape, prompts without loose garments: silhouette IoU of animated frames (built-in `walk` and `dance`, opacity
    > 0.5) against the posed body mesh (goal >= 0.85);
  - shape, loose garments: how far the garment leaves the body. Skirts and dresses: in the front view, the share of
    the gap between the legs (from the crotch to the hem's height) that the avatar fills, and the avatar's silhouette
    width over the body's on those rows; capes: in the side view, the mean depth (cm) of avatar behind the body's back
    at chest to hip height, and the width ratio there; hats: the height (cm) of avatar above the head. The bare body
    scores 0 on the gap, depth and height, and about 1 on the width ratios; each run without loose garments is
    measured the same way as if it wore the dress and the cape (`bare_*`): the reference a garment must beat.

    .venv/bin/python benchmarks/bench_generate.py [--only 0,3] [--steps 1200] [--out outputs/bench_generate] [key=value ...]

Trailing `key=value` arguments are config overrides passed to every `generate` (e.g. shape.inside=0).
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

PROMPTS = (
    ("dress", "a woman in a long red dress"),
    ("armour and cape", "a knight in silver armour with a red cape"),
    ("coat", "a man in a long brown coat and black trousers"),
    ("child", "a little girl in a yellow t-shirt and blue shorts"),
    ("heavy body", "a fat old man in a green sweater and grey trousers"),
    ("hat", "a man in a black top hat, a white shirt and black trousers"),
    ("two-colour pattern", "a man in a red and white striped shirt and blue jeans"),
    ("named character", "Spider-Man"),
    ("README", "a man wearing a red t-shirt and blue trousers"),
)
BARE_REFERENCE = "a woman in a long red dress and a red cape"  # the loose measures of an avatar without loose room


def views(loaded, azimuths: list[float], size: int):
    """Renders, keypoints (pixels) and visibility of the canonical avatar from level cameras framing the body."""
    from dreamavatar.condition import azimuth_cameras
    from renderers.cameras import project
    from renderers.skeleton import keypoint_visibility

    out = loaded.body.canonical()
    n = len(azimuths)
    cams = azimuth_cameras(azimuths, size, loaded.height, loaded.center_y)
    r = loaded.render(out, cams)
    kp = out.keypoints.float().expand(n, -1, -1)
    uv, _ = project(kp, cams)
    vis = keypoint_visibility(cams, [kp], [(out.vertices.float().expand(n, -1, -1), out.faces)])[0]
    return r, uv, vis, cams, out


def colour_scores(loaded, spec, size: int = 64) -> list[bool]:
    """Right/wrong per judged probe over the front and back views (`training.synth.metrics.score_colors`)."""
    from training.synth.metrics import score_colors

    r, uv, vis, _, _ = views(loaded, [0.0, 180.0], size)
    got = []
    for i, view in enumerate(("front", "back")):
        got += [ok for ok in score_colors(r["rgb"][i], uv[i], vis[i], spec, view).values() if ok is not None]
    return got


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


def width_ratio(avatar: torch.Tensor, body: torch.Tensor, row0: int, row1: int) -> float:
    """Mean over image rows row0..row1 of the avatar's silhouette width over the body's (masks H x W bool): 1 where
    the avatar keeps to the body, above 1 where a garment leaves it."""
    ratios = []
    for row in range(max(row0, 0), min(row1, body.shape[0])):
        b, a = torch.nonzero(body[row]).squeeze(-1), torch.nonzero(avatar[row]).squeeze(-1)
        if b.numel() >= 2 and a.numel():
            ratios.append((int(a.max()) - int(a.min()) + 1) / (int(b.max()) - int(b.min()) + 1))
    return float(np.mean(ratios)) if ratios else 0.0


def loose_extent(loaded, spec, size: int = 128) -> dict[str, float]:
    """How far the avatar's loose garments leave the body (module docstring), canonical pose."""
    from dreamavatar.body.skeleton import JOINT_INDEX
    from renderers.cameras import project
    from renderers.raycast import mesh_silhouette

    kinds = {g.info.loose for g in spec.garments}
    r, _, _, cams, out = views(loaded, [0.0, 90.0], size)
    op = r["opacity"] > 0.5
    body = torch.stack([mesh_silhouette(cams[i], out.vertices.float(), out.faces)[0] for i in range(2)])
    J = out.joints.float()
    uvj, _ = project(J.expand(2, -1, -1), cams)
    metres_per_px = loaded.height / (0.8 * size)  # the framing puts the body at 80 % of the image height
    res: dict[str, float] = {}
    if "below_hips" in kinds:  # front view: fill of the legs' gap from the crotch down to the hem's height
        hip = int(uvj[0, JOINT_INDEX["pelvis"], 1]) + 2
        g = next(g for g in spec.garments if g.info.loose == "below_hips")
        ankle = float(uvj[0, JOINT_INDEX["left_ankle"], 1])
        hem = hip + (g.resolved_length() or 0.5) * (ankle - hip)
        filled, gap = 0, 0
        for row in range(hip, int(min(hem, ankle))):
            cols = torch.nonzero(body[0, row]).squeeze(-1)
            if cols.numel() < 2:
                continue
            lo, hi = int(cols.min()), int(cols.max())
            between = ~body[0, row, lo:hi]
            gap += int(between.sum())
            filled += int((between & op[0, row, lo:hi]).sum())
        res["legs_gap_filled"] = filled / max(gap, 1)
        res["width_below_hips"] = width_ratio(op[0], body[0], hip, int(min(hem, ankle)))
    if "behind_back" in kinds:  # side view (the body's left, facing +x in the image): avatar behind the back
        lo, hi = int(uvj[1, JOINT_INDEX["spine3"], 1]), int(uvj[1, JOINT_INDEX["pelvis"], 1])
        depth = []
        for row in range(lo, hi):
            b = torch.nonzero(body[1, row]).squeeze(-1)
            a = torch.nonzero(op[1, row]).squeeze(-1)
            if b.numel() and a.numel():
                depth.append(max(0, int(b.min()) - int(a.min())) * metres_per_px * 100)
        res["cape_depth_cm"] = float(np.mean(depth)) if depth else 0.0
        res["width_side_back"] = width_ratio(op[1], body[1], lo, hi)
    if "above_head" in kinds:
        rows_b = torch.nonzero(body[0].any(1)).squeeze(-1)
        rows_a = torch.nonzero(op[0].any(1)).squeeze(-1)
        res["above_head_cm"] = max(0, int(rows_b.min()) - int(rows_a.min())) * metres_per_px * 100
    return res


def main() -> None:
    from dreamavatar.avatar import load_avatar
    from dreamavatar.cli import main as cli
    from prompts.parse import parse_prompt

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=None, help="comma-separated indices of PROMPTS (default all)")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--out", default="outputs/bench_generate")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("overrides", nargs="*", help="config overrides for generate, key=value")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    chosen = [int(i) for i in args.only.split(",")] if args.only else range(len(PROMPTS))
    rows = []
    for i in chosen:
        kind, text = PROMPTS[i]
        run = Path(args.out) / f"p{i:02d}"
        t0 = time.perf_counter()
        if not (run / "run.json").is_file():
            rc = cli(["generate", text, "--steps", str(args.steps), "--out", str(run), "--resume", "--no-progress",
                      *args.overrides])  # fmt: skip
            assert rc == 0, f"generate failed for {text!r}"
        seconds = time.perf_counter() - t0
        loaded = load_avatar(run, bake=0.01)
        spec = loaded.cfg.spec
        colours = colour_scores(loaded, spec)
        row = {"kind": kind, "prompt": text, "seconds": round(seconds, 1),
               "train_seconds": json.loads((run / "run.json").read_text())["seconds"],
               "colours_right": sum(colours), "colours_judged": len(colours)}  # fmt: skip
        if any(g.info.loose for g in spec.garments):
            row.update({k: round(v, 3) for k, v in loose_extent(loaded, spec).items()})
        else:
            bare = loose_extent(loaded, parse_prompt(BARE_REFERENCE))
            row.update({f"bare_{k}": round(v, 3) for k, v in bare.items()})
            for m in ("walk", "dance"):
                iou, prec, rec = animated_iou(loaded, m)
                row.update({f"iou_{m}": round(iou, 3), f"precision_{m}": round(prec, 3), f"recall_{m}": round(rec, 3)})
        rows.append(row)
        print(json.dumps(row), flush=True)
    right = sum(r["colours_right"] for r in rows)
    judged = sum(r["colours_judged"] for r in rows)
    ious = [r[k] for r in rows for k in ("iou_walk", "iou_dance") if k in r]
    fresh = [r["seconds"] for r in rows if r["seconds"] > 1.0] or [float("nan")]  # runs reused from --out
    print(f"runs: {len(rows)}  mean seconds/run: {sum(fresh) / len(fresh):.1f}  colours right: {right}/{judged} "
          f"({right / max(judged, 1):.0%}, goal 90 %)  animated IoU: {np.mean(ious) if ious else float('nan'):.3f} "
          f"(goal >= 0.85)")  # fmt: skip


if __name__ == "__main__":
    main()
