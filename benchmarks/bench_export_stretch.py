"""Skin stretch of an exported avatar in the built-in dance's raised-arm frame (90) and over the whole clip, for ways
of skinning the same exported mesh, side by side, each as the GLB stores it (4 influences a vertex): the previous
export's inverse-distance blend of the 4 nearest body vertices, the closest point of the body surface alone, that
inpainted where untrusted but cut to 4 joints, and the export's default (inpainted, then `limit_influences`). Also
prints how far the posed mesh drifts from the body point it was bound to (the price of smoothing) and the time of
mesh extraction + skinning.

Stretch of an edge = posed length / rest length; printed: the worst edge, the median of the worst 1 % and the number
of edges over 3x. Goal: worst <= 3x in the raised-arm frame.

    .venv/bin/python benchmarks/bench_export_stretch.py RUN_DIR [--faces 20000] [--resolution 192]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def nearest_vertex_weights(vertices: np.ndarray, body_vertices: np.ndarray, body_weights: np.ndarray, k: int = 4):
    """The previous export's skinning: inverse-square-distance blend of the k nearest body vertices."""
    from scipy.spatial import cKDTree

    d, idx = cKDTree(body_vertices).query(vertices, k=k)
    inv = 1.0 / np.maximum(d, 1e-4) ** 2
    w = np.einsum("nk,nkj->nj", inv, body_weights[idx]) / inv.sum(1, keepdims=True)
    return w / w.sum(1, keepdims=True)


def as_stored(weights: np.ndarray) -> np.ndarray:
    """The weights as a GLB stores them (`gltf.top_influences`), back as V x J."""
    from dreamavatar.export.gltf import top_influences

    idx, w = top_influences(weights)
    out = np.zeros_like(weights)
    for k in range(idx.shape[1]):
        np.add.at(out, (np.arange(len(out)), idx[:, k].astype(np.int64)), w[:, k])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--faces", type=int, default=20000)
    ap.add_argument("--resolution", type=int, default=192)
    args = ap.parse_args()

    from dreamavatar.avatar import load_avatar
    from dreamavatar.export import skinning as sk
    from dreamavatar.export.avatar_export import extract_avatar_mesh
    from dreamavatar.export.mesh import MeshConfig
    from dreamavatar.motion import load_motion

    torch.set_num_threads(2)
    loaded = load_avatar(args.run_dir)
    t0 = time.perf_counter()
    mesh = extract_avatar_mesh(loaded, MeshConfig(resolution=args.resolution, target_faces=args.faces))
    seconds = time.perf_counter() - t0
    print(f"mesh: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces; extraction + skinning {seconds:.1f} s")

    c = loaded.body.canonical()
    BV, BF, BW = c.vertices[0].double().numpy(), c.faces.numpy().astype(np.int64), c.weights.double().numpy()
    face, bary, dist0 = sk.closest_points_on_mesh(mesh.vertices, BV, BF)
    motion = load_motion("dance")
    with torch.no_grad():
        out = loaded.pose(motion.poses, motion.transl)
    A, PV = out.joint_transforms.double().numpy(), out.vertices.double().numpy()
    cfg = MeshConfig()
    w0, trusted = sk.transfer_weights(mesh.vertices, BV, BF, BW, mesh.normals, cfg.trust_distance, cfg.trust_angle)
    variants = {
        "4 nearest body vertices (before)": nearest_vertex_weights(mesh.vertices, BV, BW),
        "closest body point only": w0,
        "inpainted, cut to 4 joints": sk.inpaint_weights(w0, mesh.vertices, mesh.faces, trusted, cfg.weight_radius),
        "inpainted + limit_influences (default)": mesh.weights,
    }
    raised = 90
    print(f"{'skinning (as stored: 4 joints a vertex)':40s} {'raised: worst':>13s} {'worst 1%':>9s} {'>3x':>5s} | {'clip worst':>10s} "
          f"{'drift p50':>9s} {'p99':>7s}")  # fmt: skip
    for name, w in variants.items():
        w = as_stored(w)
        per_frame, drift = [], []
        for f in range(len(A)):
            P = sk.pose_vertices(mesh.vertices, w, A[f])
            per_frame.append(sk.stretch_summary(sk.edge_stretch(mesh.vertices, P, mesh.faces)))
            if f % 5 == 0:
                anchor = np.einsum("nk,nkd->nd", bary, PV[f][BF[face]])
                drift.append(np.abs(np.linalg.norm(P - anchor, axis=1) - dist0))
        r = per_frame[raised]
        d = np.concatenate(drift) * 1000
        print(f"{name:40s} {r['worst']:13.2f} {r['worst1pct_median']:9.2f} {r['over3x']:5d} | "
              f"{max(s['worst'] for s in per_frame):10.2f} {np.median(d):7.1f}mm {np.percentile(d, 99):5.1f}mm")


if __name__ == "__main__":
    main()
