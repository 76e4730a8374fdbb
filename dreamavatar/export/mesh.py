"""Meshes from a density field: marching cubes (PyMCubes), cleaning, colours, skin-weight transfer, posing.

All functions are plain: they take callables and arrays, so any field (the NeRF, a baked grid, an analytic test
shape) can be exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

DensityFn = Callable[[torch.Tensor], torch.Tensor]  # N x 3 points -> N densities
ColorFn = Callable[[torch.Tensor], torch.Tensor]  # N x 3 points -> N x 3 colours in [0, 1]


@dataclass
class MeshConfig:
    resolution: int = 192  # marching-cubes grid cells along the longest side of the box
    threshold: Optional[float] = None  # density iso-level; None: chosen so the mesh's silhouettes match the renders
    keep_components: int = 1  # keep this many largest connected components (0 keeps all)
    min_component_fraction: float = 0.02  # ... and only those with at least this fraction of the faces
    target_faces: int = 0  # decimate to about this many faces (0: no decimation)
    chunk: int = 262144  # points per density query


def sample_grid(fn: DensityFn, bbox_min: np.ndarray, bbox_max: np.ndarray, resolution: int, chunk: int) -> np.ndarray:
    """Evaluate `fn` on a regular grid with `resolution` cells on the longest side. Returns the grid X x Y x Z."""
    size = bbox_max - bbox_min
    step = size.max() / resolution
    counts = np.maximum(np.ceil(size / step).astype(int) + 1, 2)
    axes = [np.linspace(bbox_min[i], bbox_min[i] + step * (counts[i] - 1), counts[i]) for i in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    out = np.empty(len(pts), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, len(pts), chunk):
            out[s : s + chunk] = fn(torch.from_numpy(pts[s : s + chunk]).float()).reshape(-1).cpu().numpy()
    return out.reshape(*counts)


@dataclass
class DensityGrid:
    """Densities on a regular grid: values X x Y x Z, the world position of index (0, 0, 0) and the spacing."""

    values: np.ndarray
    origin: np.ndarray
    step: float

    @classmethod
    def sample(cls, fn: DensityFn, bbox_min: np.ndarray, bbox_max: np.ndarray, resolution: int,
               chunk: int = 262144) -> "DensityGrid":  # fmt: skip
        bbox_min, bbox_max = np.asarray(bbox_min, float), np.asarray(bbox_max, float)
        values = sample_grid(fn, bbox_min, bbox_max, resolution, chunk)
        return cls(values, bbox_min, float((bbox_max - bbox_min).max() / resolution))

    def iso_surface(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """(vertices V x 3 in world units, faces F x 3) of the level set, wound with normals out of the dense side."""
        import mcubes

        grid = np.pad(self.values, 1, constant_values=0.0)  # empty space around: closed at the box walls
        verts, faces = mcubes.marching_cubes(grid, level)
        if len(faces) == 0:
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        # PyMCubes winds triangles so normals point towards lower values: outwards for a density (checked in tests)
        return (verts - 1) * self.step + self.origin, faces.astype(np.int64)


def marching_cubes(
    fn: DensityFn, bbox_min: np.ndarray, bbox_max: np.ndarray, cfg: MeshConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface (at `cfg.threshold`) of a density field inside a box. Returns (vertices V x 3 float64 in world
    units, faces F x 3), faces wound so normals point out of the dense region."""
    cfg = cfg or MeshConfig()
    if cfg.threshold is None:
        raise ValueError("marching_cubes needs a threshold: use choose_threshold to pick one from renders")
    return DensityGrid.sample(fn, bbox_min, bbox_max, cfg.resolution, cfg.chunk).iso_surface(cfg.threshold)


def choose_threshold(
    grid: DensityGrid,
    silhouette_iou: Callable[[np.ndarray, np.ndarray], float],
    levels: tuple[float, ...] = (5, 10, 20, 40, 60, 100, 160, 250),
) -> tuple[float, float]:
    """The iso-level whose mesh best matches the rendered avatar: `silhouette_iou(vertices, faces)` scores a candidate
    mesh (mean IoU of its silhouettes against rendered opacity > 0.5). Returns (level, its score)."""
    best = (levels[0], float("-inf"))
    for level in levels:
        v, f = grid.iso_surface(level)
        score = silhouette_iou(v, f) if len(f) else float("-inf")
        if score > best[1]:
            best = (level, score)
    return best


def clean_mesh(vertices: np.ndarray, faces: np.ndarray, cfg: MeshConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keep the largest connected components (drops floaters), optionally decimate. Returns (vertices, faces)."""
    import trimesh

    cfg = cfg or MeshConfig()
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    if cfg.keep_components > 0 and len(mesh.faces):
        parts = sorted(mesh.split(only_watertight=False), key=lambda m: len(m.faces), reverse=True)
        big = [p for p in parts[: cfg.keep_components] if len(p.faces) >= cfg.min_component_fraction * len(mesh.faces)]
        mesh = trimesh.util.concatenate(big or parts[:1])
    if cfg.target_faces and len(mesh.faces) > cfg.target_faces:
        try:
            mesh = mesh.simplify_quadric_decimation(face_count=cfg.target_faces)
        except (ImportError, ModuleNotFoundError, ValueError) as e:  # needs the optional fast-simplification package
            import logging

            logging.getLogger(__name__).warning("decimation skipped (%s): pip install fast-simplification", e)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces, dtype=np.int64)


def vertex_colors(fn: ColorFn, vertices: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Colours of the field at the mesh vertices: V x 3 in [0, 1]."""
    out = []
    with torch.no_grad():
        for s in range(0, len(vertices), chunk):
            out.append(fn(torch.from_numpy(vertices[s : s + chunk]).float()).cpu().numpy())
    return np.clip(np.concatenate(out) if out else np.zeros((0, 3)), 0, 1)


def transfer_from_body(vertices: np.ndarray, body_vertices: np.ndarray, values: np.ndarray, k: int = 4) -> np.ndarray:
    """Per-vertex values for arbitrary vertices from the nearest body vertices (inverse-distance blend of k
    neighbours). vertices N x 3, body_vertices M x 3, values M x ... -> N x ..."""
    from scipy.spatial import cKDTree

    d, idx = cKDTree(body_vertices).query(vertices, k=k)
    d, idx = d.reshape(len(vertices), -1), idx.reshape(len(vertices), -1)
    inv = 1.0 / np.maximum(d, 1e-4) ** 2
    inv = inv / inv.sum(1, keepdims=True)
    flat = values.reshape(len(values), -1)
    return np.einsum("nk,nkj->nj", inv, flat[idx]).reshape(len(vertices), *values.shape[1:])


def transfer_weights(vertices: np.ndarray, body_vertices: np.ndarray, body_weights: np.ndarray, k: int = 4) -> np.ndarray:
    """Skin weights for arbitrary vertices from the nearest body vertices (inverse-distance blend of k neighbours).
    vertices N x 3, body_vertices M x 3, body_weights M x J -> N x J, rows sum to 1."""
    w = transfer_from_body(vertices, body_vertices, body_weights, k)
    return w / w.sum(1, keepdims=True)


def pose_vertices(vertices: np.ndarray, weights: np.ndarray, joint_transforms: np.ndarray) -> np.ndarray:
    """Linear blend skinning: canonical vertices N x 3, weights N x J, joint transforms J x 4 x 4 (canonical -> posed)
    -> posed vertices N x 3."""
    M = np.einsum("nj,jab->nab", weights, joint_transforms)
    return np.einsum("nab,nb->na", M[:, :3, :3], vertices) + M[:, :3, 3]
