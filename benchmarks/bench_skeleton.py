"""Skeleton condition images on CPU, per stage, for 100 frames of a motion: body forward, keypoint occlusion (ray
casting), drawing, and the whole `render_condition` path. Prints wall and CPU ms/frame per stage (CPU time is the
steadier number on a shared machine; with --threads 1 the two agree on an idle one).

    .venv/bin/python benchmarks/bench_skeleton.py [--frames 100] [--size 512] [--batch 16] [--motion dance]
        [--threads 1]

Uses the built-in motion when dreamavatar.motion has it, else a procedural sway made here (so it always runs).
"""

from __future__ import annotations

import argparse
import math
import time

import torch


def _poses(name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        from dreamavatar.motion import load_motion

        m = load_motion(name)
        idx = torch.arange(n) % len(m)
        return m.poses[idx], m.transl[idx]
    except Exception as e:  # the built-in may not exist yet
        print(f"(motion {name!r} unavailable: {e}; using a procedural sway)")
        from dreamavatar.body.skeleton import JOINT_INDEX, a_pose

        poses = a_pose(n)
        t = torch.arange(n) / 30.0
        poses[:, 0, 1] = 0.6 * torch.sin(2 * math.pi * 0.5 * t)
        poses[:, JOINT_INDEX["left_elbow"], 1] = 1.0 * torch.sin(2 * math.pi * t).abs()
        poses[:, JOINT_INDEX["right_knee"], 0] = 0.8 * torch.sin(2 * math.pi * t).abs()
        return poses, torch.zeros(n, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--motion", default="dance")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from dreamavatar.body import load_body
    from dreamavatar.condition import body_extent, render_condition, view_cameras
    from renderers.cameras import project
    from renderers.skeleton import draw_openpose, keypoint_visibility

    t0 = time.perf_counter()
    body = load_body("anny")
    print(f"body load: {1e3 * (time.perf_counter() - t0):.0f} ms")
    poses, transl = _poses(args.motion, args.frames)
    height, cy = body_extent(body)
    cams = view_cameras("orbit", args.size, height, cy, transl)

    names = ("body forward", "occlusion (ray casting)", "drawing", "render_condition (all)")
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)

    class timed:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> None:
            self.t, self.c = time.perf_counter(), time.process_time()

        def __exit__(self, *exc) -> None:
            wall[self.name] += time.perf_counter() - self.t
            cpu[self.name] += time.process_time() - self.c

    n_visible = 0
    with torch.no_grad():
        for a in range(0, args.frames, args.batch):
            b = min(a + args.batch, args.frames)
            c = cams[a:b]
            with timed("body forward"):
                out = body(poses[a:b], transl[a:b])
            with timed("occlusion (ray casting)"):
                vis = keypoint_visibility(c, [out.keypoints], [(out.vertices, out.faces)])[0]
            n_visible += int(vis.sum())
            with timed("drawing"):
                uv = project(out.keypoints, c)[0]
                for k in range(b - a):
                    draw_openpose(uv[k], vis[k], c.height, c.width)
            with timed("render_condition (all)"):
                render_condition(c, out)

    print(f"{args.frames} frames, {args.size} px, batch {args.batch}, anny ({out.vertices.shape[1]} vertices, "
          f"{out.faces.shape[0]} faces), orbit camera; {n_visible / args.frames:.1f} keypoints visible per frame")
    print(f"{'stage (ms/frame)':<28}{'wall':>8}{'cpu':>8}")
    for k in names:
        print(f"{k:<28}{1e3 * wall[k] / args.frames:>8.2f}{1e3 * cpu[k] / args.frames:>8.2f}")
    total = wall["body forward"] + wall["render_condition (all)"]
    total_cpu = cpu["body forward"] + cpu["render_condition (all)"]
    print(f"{'body + condition image':<28}{1e3 * total / args.frames:>8.2f}{1e3 * total_cpu / args.frames:>8.2f}"
          f"  ({args.frames / total:.1f} frames/s wall)")


if __name__ == "__main__":
    main()
