"""The deformation query (nearest posed vertex + its inverse skinning transform) vs DreamWaltz's way (libigl
`point_mesh_squared_distance` on the posed mesh), on the same points, CPU.

Points: the sample points of a 64 x 64 render with 128 samples per ray inside the posed body's box (what DreamWaltz
queries: about 500k), and their near-surface subset (within the density weight's reach, w >= 1e-3 with delta = 0).
"ours+setup" includes preparing the pose (KD-tree, inverse vertex transforms, normals), "ours query" is the query
alone (one setup per pose serves every batch of rays); libigl builds its AABB tree inside each call. Ours stops the
vertex search at the weight's reach (w < 1e-3 beyond it, so farther points need no exact distance); libigl computes
exact distances for every point. Prints times and speed-ups (libigl time / ours).

    .venv/bin/python benchmarks/bench_deformation.py [--size 64] [--samples 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from dreamavatar.body import load_body
from dreamavatar.body.skeleton import JOINT_INDEX, a_pose
from dreamavatar.field.deformation import Deformation, PosedBody
from renderers.cameras import orbit_cameras
from renderers.rays import near_far, pixel_rays


def walking_pose() -> torch.Tensor:
    p = a_pose(1)
    for joint, axis, deg in (("left_hip", 0, -30), ("right_hip", 0, 20), ("right_knee", 0, 50),
                             ("left_elbow", 1, -60), ("right_elbow", 1, 40), ("pelvis", 1, 25)):  # fmt: skip
        p[0, JOINT_INDEX[joint], axis] = math.radians(deg)
    return p


def render_points(vertices: torch.Tensor, size: int, samples: int) -> torch.Tensor:
    """Midpoints of `samples` equal intervals per pixel ray inside the body's box, front-left camera -> N x 3."""
    aabb = torch.stack([vertices.min(0).values, vertices.max(0).values])
    centre = aabb.mean(0)
    cams = orbit_cameras(2.5, 90.0, 30.0, 36.0, size, target=tuple(centre.tolist()))
    o, d = (t.reshape(-1, 3) for t in pixel_rays(cams))
    t0, t1 = near_far(o, d, 0.05, 100.0, aabb)
    hit = t1 > t0
    u = (torch.arange(samples) + 0.5) / samples
    t = t0[hit, None] + (t1 - t0)[hit, None] * u
    return (o[hit, None] + t[..., None] * d[hit, None]).reshape(-1, 3)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (libigl runs on one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import igl

    body = load_body("anny")
    out = body(walking_pose())
    V = out.vertices[0].detach()
    F = out.faces
    pts = render_points(V, args.size, args.samples)
    deform = Deformation()
    radius = deform.radius(0.0)

    def ours(p: torch.Tensor) -> torch.Tensor:
        posed = PosedBody.from_output(out)  # KD-tree + inverse transforms for this pose
        return deform.warp(p, posed, radius)[0]

    prepared = PosedBody.from_output(out)

    def ours_query(p: torch.Tensor) -> torch.Tensor:  # the pose already prepared (one setup serves every ray batch)
        return deform.warp(p, prepared, radius)[0]

    Vn, Fn = V.double().numpy(), F.numpy().astype(np.int64)

    def libigl(p: torch.Tensor):
        return igl.point_mesh_squared_distance(p.double().numpy(), Vn, Fn)

    _, d2, _, _ = deform.warp(pts, PosedBody.from_output(out), radius)
    near = pts[d2 < radius**2]  # vertex distance: within the weight's reach (the cheap pre-filter DreamWaltz lacks)
    print(f"points: {pts.shape[0]} (render {args.size}x{args.size}, {args.samples} samples/ray in the body box), "
          f"near-surface (< {radius * 100:.1f} cm): {near.shape[0]}")  # fmt: skip
    print(f"torch threads: {args.threads}; times are the best of {args.repeat}")
    head = f"{'set':<14}{'points':>9}{'ours+setup':>12}{'ours query':>12}{'libigl':>10}{'speed-up':>10}{'(query)':>9}"
    print(head)
    for name, p in (("render box", pts), ("near surface", near)):
        t_all, _ = best_of(lambda: ours(p), args.repeat)
        t_q, _ = best_of(lambda: ours_query(p), args.repeat)
        t_igl, _ = best_of(lambda: libigl(p), max(1, args.repeat - 1))
        print(f"{name:<14}{p.shape[0]:>9}{t_all:>11.3f}s{t_q:>11.3f}s{t_igl:>9.3f}s"
              f"{t_igl / t_all:>9.1f}x{t_igl / t_q:>8.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
