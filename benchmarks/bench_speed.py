"""Speed of `generate`, `animate` and `export` on CPU against a baseline revision, measured side by side.

The baseline is another revision of this repository (default: the commit before the speed work of issue 18), taken
with `git archive` into a temporary folder and imported in its own processes (`PYTHONPATH`); the current tree runs
the same worker code in turn, A B A B, so a drifting machine load hits both alike. Printed per figure: baseline and
current seconds (medians) and the ratio baseline / current of each pair, as min / median / max.

    .venv/bin/python benchmarks/bench_speed.py [--tasks train animate export] [--rounds 3] [--baseline REV]
    .venv/bin/python benchmarks/bench_speed.py --scaling        # how cost grows (current tree only)

Figures:
Wall seconds and CPU seconds (all threads; steadier than wall time on a busy shared machine) are both printed.

- train: seconds per training step of the tiny preset (stage 0 from its cache, warm caches), stage 1 (canonical
  pose) and stage 2 (a sampled pose per step), after warm-up steps; the current tree with the baseline's SDS rule
  (`SAME_WORK`: the preset's multi-step target costs two more guidance calls a step, a change of work, not speed).
- animate: seconds per frame of `render_motion` (the built-in dance, baked canonical field, fixed front camera) at
  128 px and at 512 px with the skeleton panel, and the one-time bake.
- export: `load_avatar` + `extract_avatar_mesh` + a rigged GLB with the walk motion (what
  `dreamavatar export RUN --format glb --rigged --motion walk` does after its imports).
- --scaling: seconds per frame against image size (128, 256, 512) and against the number of avatars in one scene
  (1, 2, 4, 8, side by side), and seconds per training step against the hash-table size (2^14 .. 2^19 rows a level).

The avatar is a short `generate` run of the current tree (made once under --run, default
outputs/bench_speed/avatar); `--run DIR` takes any finished run instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REV = "c59f823"  # main before the speed work (issue 18)
PROMPT = "a man wearing a red t-shirt and blue trousers"
# the baseline's score-distillation rule (plain CFG 7.5, one guidance call a step), given to the current tree's
# training steps so that both do the same work; the tiny preset now distils toward a 3-step DDIM target instead
SAME_WORK = {"train": ["sds.target_steps=1", "sds.guidance_scale=7.5"]}

WORKER = r'''
import json, os, sys, time, tempfile
import torch
torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
task, run, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
res = {}
if task == "train":
    from dreamavatar.run_config import build_config
    from dreamavatar.run_dir import RunDir
    from dreamavatar.train.trainer import Trainer
    cfg = build_config("tiny", [f"prompt='{os.environ['BENCH_PROMPT']}'", *sys.argv[4:]])
    tr = Trainer(cfg, RunDir(tempfile.mkdtemp()), progress=False)
    tr.initialize()
    first2 = int(cfg.train.animate_from * cfg.train.steps)
    for stage, start in (("stage1", 0), ("stage2", first2)):
        for s in range(start, start + 3):  # warm-up
            tr.train_step(s); tr.optimizer.step()
        t, c = time.perf_counter(), time.process_time()
        for s in range(start + 3, start + 3 + n):
            tr.train_step(s); tr.optimizer.step()
        res[f"train {stage} s/step"] = (time.perf_counter() - t) / n
        res[f"train {stage} cpu-s/step"] = (time.process_time() - c) / n
elif task == "animate":
    from dreamavatar.animation import render_motion
    from dreamavatar.avatar import load_avatar
    from dreamavatar.motion import load_motion
    t = time.perf_counter()
    loaded = load_avatar(run, bake=0.01)
    res["animate load+bake s"] = time.perf_counter() - t
    motion = load_motion("dance")
    for size, skel in ((128, False), (512, True)):
        m = motion.frames(f"0:{n + 1}")
        frames = render_motion(loaded, m, size, skeleton=skel, progress=False)
        next(frames)  # warm-up frame
        t, c = time.perf_counter(), time.process_time()
        k = sum(1 for _ in frames)
        name = f"animate {size}px{' +skeleton' if skel else ''}"
        res[f"{name} s/frame"] = (time.perf_counter() - t) / k
        res[f"{name} cpu-s/frame"] = (time.process_time() - c) / k
elif task == "export":
    from pathlib import Path
    from dreamavatar.avatar import load_avatar
    from dreamavatar.export.avatar_export import export_glb, extract_avatar_mesh, motion_joint_transforms
    from dreamavatar.motion import load_motion
    t, c = time.perf_counter(), time.process_time()
    loaded = load_avatar(run)
    mesh = extract_avatar_mesh(loaded)
    motion = load_motion("walk")
    export_glb(mesh, Path(tempfile.mkdtemp()) / "a.glb", True, motion_joint_transforms(loaded, motion), motion.fps)
    res["export glb --rigged s"] = time.perf_counter() - t
    res["export glb --rigged cpu-s"] = time.process_time() - c
print("BENCH " + json.dumps(res), flush=True)
'''


def baseline_tree(rev: str) -> Path:
    """`git archive REV` unpacked into a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="bench_speed_base_"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def run_worker(tree: Path, task: str, run: Path, n: int, extra: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_WAIT_POLICY": "PASSIVE", "BENCH_PROMPT": PROMPT}
    p = subprocess.run([sys.executable, "-c", WORKER, task, str(run), str(n), *extra], env=env, cwd=str(tree),
                       capture_output=True, text=True)  # fmt: skip
    for line in p.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"worker {task} in {tree} failed:\n{p.stderr[-3000:]}")


def ensure_run(run: Path, steps: int) -> Path:
    """A finished `generate` run of the current tree (made once)."""
    if not (run / "run.json").is_file():
        from dreamavatar.cli import main as cli

        rc = cli(["generate", PROMPT, "--steps", str(steps), "--out", str(run), "--resume", "--no-progress"])
        if rc != 0:
            raise SystemExit(f"generate for the benchmark avatar failed ({rc})")
    return run


_FILTER = r"""
import sys
from omegaconf import OmegaConf
from dreamavatar.run_config import GenerateConfig
known = OmegaConf.to_container(OmegaConf.structured(GenerateConfig))
def keep(d, k):
    if not isinstance(d, dict) or not isinstance(k, dict) or not k:
        return d
    return {key: keep(v, k[key]) for key, v in d.items() if key in k}
cfg = keep(OmegaConf.to_container(OmegaConf.load(sys.argv[1])), known)
OmegaConf.save(OmegaConf.create(cfg), sys.argv[2])
"""


def baseline_run(run: Path, tree: Path) -> Path:
    """The run directory for the baseline: config.yaml without the keys the baseline's config does not know (a copy;
    everything else linked)."""
    out = Path(tempfile.mkdtemp(prefix="bench_speed_run_"))
    for item in run.iterdir():
        if item.name != "config.yaml":
            (out / item.name).symlink_to(item)
    subprocess.run([sys.executable, "-c", _FILTER, str(run / "config.yaml"), str(out / "config.yaml")], check=True,
                   env={**os.environ, "PYTHONPATH": str(tree)}, cwd=str(tree))  # fmt: skip
    return out


def side_by_side(args: argparse.Namespace, run: Path) -> None:
    base = baseline_tree(args.baseline)
    base_run = baseline_run(run, base) if run is not None else None
    n_of = {"train": args.steps, "animate": args.frames, "export": 1}
    rows: dict[str, tuple[list[float], list[float]]] = {}
    for r in range(args.rounds):
        for task in args.tasks:
            a = run_worker(base, task, base_run, n_of[task], args.overrides)
            b = run_worker(ROOT, task, run, n_of[task], [*SAME_WORK.get(task, []), *args.overrides])
            for key in b:
                rows.setdefault(key, ([], []))
                rows[key][0].append(a.get(key, float("nan")))
                rows[key][1].append(b[key])
            print(f"round {r + 1}/{args.rounds} {task}: " + ", ".join(f"{k} {a.get(k, float('nan')):.3f} -> {b[k]:.3f}"
                                                                       for k in b), flush=True)  # fmt: skip
    print(f"\nbaseline {args.baseline} vs current tree, {args.rounds} rounds (medians; ratio = baseline / current)")
    print(f"{'figure':<34}{'baseline':>10}{'current':>10}{'ratio min':>11}{'median':>8}{'max':>7}")
    for key, (a, b) in rows.items():
        ratios = sorted(x / y for x, y in zip(a, b))
        print(f"{key:<34}{statistics.median(a):>10.3f}{statistics.median(b):>10.3f}{ratios[0]:>11.2f}"
              f"{statistics.median(ratios):>8.2f}{ratios[-1]:>7.2f}")  # fmt: skip


def _per_frame(fn, n: int) -> float:
    """CPU seconds (all threads) per call after a warm-up: steadier than wall time on a shared machine."""
    import time

    fn()  # warm-up
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n


def print_scaling(run: Path, frames: int) -> None:
    """How cost grows: s/frame against size and avatar count, s/step against the hash-table size."""
    import tempfile

    import torch

    from dreamavatar.avatar import load_avatar
    from dreamavatar.condition import view_cameras
    from dreamavatar.motion import load_motion
    from dreamavatar.render import render_placed
    from dreamavatar.run_config import build_config
    from dreamavatar.run_dir import RunDir
    from dreamavatar.scene import placement
    from dreamavatar.train.trainer import Trainer
    from renderers.cameras import orbit_cameras

    torch.set_num_threads(2)
    loaded = load_avatar(run, bake=0.01)
    motion = load_motion("dance")
    n = max(2, frames // 3)
    poses = [loaded.pose(motion.poses[f : f + 1], motion.transl[f : f + 1]) for f in range(0, 40, 40 // n)][:n]
    print("CPU seconds per frame against image size (dance, baked, fixed front camera, no skeleton)")
    print(f"{'size':>6}{'s/frame':>10}{'s per 1k px':>13}{'samples/frame':>15}")
    for size in (128, 256, 512):
        cams = view_cameras("front", size, loaded.height, loaded.center_y)
        it = iter(range(10**9))
        stats = {}

        def frame() -> None:
            stats["n"] = loaded.render(poses[next(it) % n], cams)["num_samples"]

        t = _per_frame(frame, n)
        print(f"{size:>6}{t:>10.3f}{t / (size * size / 1000):>13.4f}{stats['n']:>15}")
    print("CPU seconds per frame against avatars in one scene (256 x 144, side by side, each its own pose)")
    print(f"{'avatars':>8}{'s/frame':>10}{'per avatar':>12}")
    cam = orbit_cameras(7.0, 85.0, 0.0, 40.0, (256, 144), (0.0, 0.0, 0.0))
    for k in (1, 2, 4, 8):
        placed = [(loaded.posed(poses[i % n]), torch.linalg.inv(placement([0.7 * (i - (k - 1) / 2), 0.0, -0.3 * (i % 2)], 0.0)))
                  for i in range(k)]  # fmt: skip
        t = _per_frame(lambda: render_placed(cam, placed, torch.ones(3)), 2)
        print(f"{k:>8}{t:>10.3f}{t / k:>12.3f}")
    print("CPU seconds per training step against the hash table (rows a level; stage 1, samples by the body alone)")
    print(f"{'log2 rows':>10}{'s/step':>9}")
    for log2 in (14, 16, 17, 18, 19):
        cfg = build_config("tiny", [f"prompt='{PROMPT}'", f"avatar.nerf.grid.log2_table_size={log2}",
                                    "train.occupancy_every=0", "train.early_stop=0"])  # fmt: skip
        tr = Trainer(cfg, RunDir(tempfile.mkdtemp()), progress=False)
        it = iter(range(10**9))

        def step() -> None:
            tr.train_step(next(it))
            tr.optimizer.step()

        print(f"{log2:>10}{_per_frame(step, max(3, frames // 2)):>9.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["train", "animate", "export"], choices=["train", "animate", "export"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=12, help="timed training steps per stage")
    ap.add_argument("--frames", type=int, default=12, help="timed animation frames per size")
    ap.add_argument("--baseline", default=BASELINE_REV, help="git revision to compare against")
    ap.add_argument("--run", default="outputs/bench_speed/avatar", help="a generate run to animate and export")
    ap.add_argument("--run-steps", type=int, default=200, help="steps of the benchmark avatar when it is made")
    ap.add_argument("--scaling", action="store_true", help="print how cost grows instead (current tree)")
    ap.add_argument("overrides", nargs="*", help="config overrides for the training steps, key=value")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.path.insert(0, str(ROOT))
    run = ensure_run(Path(args.run).resolve(), args.run_steps) if {"animate", "export"} & set(args.tasks) or args.scaling else None
    if args.scaling:
        print_scaling(run, args.frames)
    else:
        side_by_side(args, run)


if __name__ == "__main__":
    main()
