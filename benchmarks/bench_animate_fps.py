"""Frames per second of animating an avatar on CPU: a 128 x 128 frame per pose of a motion, with the canonical field
baked to a dense grid (trilinear lookups) and, for comparison, straight from the hash-grid NeRF.

Per frame: body model forward, pose preparation (KD-tree, inverse transforms), occupancy grid of the posed body,
body-guided sampling, deformation + density weight, canonical lookup, compositing. Baking is a one-time cost per
avatar, reported separately. The field is the tiny preset's (hash table 2^16) as initialised, unless --init runs
(or reuses the cached) stage 0, or `--run RUN_DIR` animates a generated avatar the way `dreamavatar animate` does
(its ray step, its delta: a trained avatar's larger delta widens the shell that is sampled, so it costs more).
Threads: all cores by default, as the command line uses them.

    .venv/bin/python benchmarks/bench_animate_fps.py [--frames 12] [--size 128] [--step 0.02] [--init] [--run DIR]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from dreamavatar.body import load_body
from dreamavatar.field.avatar import AvatarConfig, AvatarField
from dreamavatar.field.bake import bake_avatar
from dreamavatar.field.hashgrid import HashGridConfig
from dreamavatar.field.nerf import NeRFConfig
from renderers.cameras import orbit_cameras
from renderers.samplers import OccupancySampler
from renderers.volume import render_image


def motion_poses(frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The built-in "dance" (poses F x 24 x 3, transl F x 3)."""
    from dreamavatar.motion import load_motion

    m = load_motion("dance")
    return m.poses[:frames].float(), m.transl[:frames].float()


@torch.no_grad()
def animate(avatar, body, poses, transl, size, step, cell, baked=None) -> tuple[float, list[torch.Tensor]]:
    """Render every pose; returns (seconds, opacity images)."""
    frames = []
    t0 = time.perf_counter()
    for i in range(poses.shape[0]):
        out = body(poses[i : i + 1], transl[i : i + 1])
        posed = avatar.posed(out, baked=baked)
        target = tuple(out.joints[0, 0].tolist())
        cams = orbit_cameras(3.0, 90.0, 0.0, 40.0, size, target=target)
        sampler = OccupancySampler(posed.occupancy(cell_size=cell), step=step)
        img = render_image(cams, posed, sampler, near=0.05, far=10.0, background=1.0, chunk=1 << 15)
        frames.append(img["rgb"][0])
    return time.perf_counter() - t0, frames


def animate_run(args) -> None:
    """fps of a generated avatar through `LoadedAvatar.render`, the `animate` command's path (front camera)."""
    from dreamavatar.animation import motion_cameras
    from dreamavatar.avatar import load_avatar
    from dreamavatar.motion import load_motion

    t = time.perf_counter()
    loaded = load_avatar(args.run, bake=args.bake_cell)
    print(f"load + bake: {time.perf_counter() - t:.2f} s once per avatar (ray step {loaded.cfg.train.ray_step} m)")
    motion = load_motion("dance")
    cams = motion_cameras(loaded, motion, args.size)

    def frames(ids) -> tuple[float, int]:
        t0, n = time.perf_counter(), 0
        for f in ids:
            n += loaded.render(loaded.pose(motion.poses[f : f + 1], motion.transl[f : f + 1]), cams[f])["num_samples"]
        return time.perf_counter() - t0, n

    frames([0])  # warm-up
    ids = list(range(0, 10 * args.frames, 10))[: args.frames]
    dt, n = frames(ids)
    print(f"{args.size}x{args.size}, {args.threads} threads, {args.run}")
    print(f"baked: {len(ids)} frames, {dt / len(ids):.3f} s/frame, {len(ids) / dt:.2f} fps, "
          f"{n / len(ids) / 1e3:.0f} k samples a frame; goal >= 10 fps at 128 px")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--step", type=float, default=0.02, help="metres between samples along a ray")
    ap.add_argument("--cell", type=float, default=0.03, help="occupancy cell size (m)")
    ap.add_argument("--bake-cell", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="torch threads (default all cores, as the CLI; 1 can beat 2 on a shared 2-core machine)")
    ap.add_argument("--init", action="store_true", help="fit (or reuse the cached) stage 0 first")
    ap.add_argument("--run", default=None, help="a generate run directory: animate that avatar as `animate` does")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.run:
        return animate_run(args)

    body = load_body("anny")
    torch.manual_seed(0)
    avatar = AvatarField(AvatarConfig(nerf=NeRFConfig(grid=HashGridConfig(log2_table_size=16))))
    canonical = body.canonical()
    if args.init:
        from dreamavatar.field.init import initialize

        print(f"stage 0: {initialize(avatar, canonical, body_name='anny')}")
    poses, transl = motion_poses(args.frames)

    t = time.perf_counter()
    baked = bake_avatar(avatar, canonical, cell=args.bake_cell)
    t_bake = time.perf_counter() - t
    print(f"bake: {t_bake:.2f} s once per avatar (grid {tuple(baked.grid.shape[1:])}, cell {args.bake_cell} m)")
    animate(avatar, body, poses[:1], transl[:1], args.size, args.step, args.cell, baked)  # warm-up

    n = poses.shape[0]
    t_baked, _ = animate(avatar, body, poses, transl, args.size, args.step, args.cell, baked)
    k = min(n, 4)
    t_nerf, _ = animate(avatar, body, poses[:k], transl[:k], args.size, args.step, args.cell)
    print(f"{args.size}x{args.size}, step {args.step} m, {args.threads} threads")
    print(f"{'field':<10}{'frames':>8}{'s/frame':>10}{'fps':>8}")
    print(f"{'baked':<10}{n:>8}{t_baked / n:>10.3f}{n / t_baked:>8.2f}")
    print(f"{'nerf':<10}{k:>8}{t_nerf / k:>10.3f}{k / t_nerf:>8.2f}")
    print(f"baked speed-up: {(t_nerf / k) / (t_baked / n):.1f}x; goal >= 10 fps baked")


if __name__ == "__main__":
    main()
