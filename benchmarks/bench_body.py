"""Body models on CPU: build time in a fresh process (after imports) and forward time per batch, AnnyBody (SMPL pose
in, retargeted, with keypoints and per-vertex canonical->posed transforms) side by side with anny's own forward
(its pose parameters, vertices and bone poses only). Also prints the T-correction's residual limb angles.

    .venv/bin/python benchmarks/bench_body.py [--batch 1 8 32] [--repeat 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import roma
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

_FRESH = """
import time, torch
torch.set_num_threads(2)
import anny, dreamavatar.body.anny_body as ab
t = time.perf_counter()
body = ab.AnnyBody()
body.canonical()
print(time.perf_counter() - t)
"""


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(2)

    root = str(Path(__file__).resolve().parents[1])
    fresh = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True, cwd=root)
    print(f"AnnyBody ready in a fresh process after imports: {float(fresh.stdout.strip()):.3f} s (target < 2 s)")

    import anny

    from dreamavatar.body.anny_body import AnnyBody, t_pose_angle_error

    body = AnnyBody()
    worst = max(t_pose_angle_error(body).values())
    print(f"T-corrected limbs: worst angle to the T-pose target {worst:.3f} deg")
    model = anny.Anny(rig="cmu_mb", skinning_method="lbs").to(torch.float32)
    print(f"{'batch':>5} {'AnnyBody ms':>12} {'anny ms':>9} {'ratio':>6} {'ms/pose':>8}")
    with torch.no_grad():
        for B in args.batch:
            pose = (torch.rand(B, 24, 3) - 0.5) * 0.6
            deltas = torch.eye(4).repeat(B, model.bone_count, 1, 1)
            deltas[:, 1:, :3, :3] = roma.rotvec_to_rotmat((torch.rand(B, model.bone_count - 1, 3) - 0.5) * 0.6)
            ours = _time(lambda: body(pose), args.repeat)
            theirs = _time(lambda: model(pose_parameters=deltas), args.repeat)
            print(f"{B:>5} {ours:>12.1f} {theirs:>9.1f} {ours / theirs:>6.2f} {ours / B:>8.2f}")


if __name__ == "__main__":
    main()
