"""Meshes from a density field: marching cubes (PyMCubes), cleaning, Taubin smoothing, decimation
(fast-simplification), colours and smooth normals. Skin weights live in `skinning.py`.

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
    smooth_iterations: int = 10  # Taubin smoothing passes (lambda/mu: smooths the voxel steps, keeps the volume)
    target_faces: int = 20000  # decimate to about this many faces (0: none); a game-engine character's budget
    weight_radius: float = 0.03  # metres over which trusted skin weights are smoothed (skinning.inpaint_weights)
    trust_distance: float = 0.05  # skin weights read from the body are trusted within this distance (metres) ...
    trust_angle: float = 45.0  # ... where mesh and body face the same way within this angle (degrees)
    chunk: int = 262144  # points per density query


MIN_RESOLUTION = 16
BYTES_PER_CELL = 80  # sample_grid: three float64 coordinates per cell twice (meshgrid, stacked) + float32 density


def check_resolution(resolution: int) -> None:
    """A marching-cubes resolution that gives a mesh at all and whose grid (at most resolution^3 cells) fits in
    memory."""
    from dreamavatar.errors import UserError
    from renderers.memory import BASE_BYTES, memory_limit

    if resolution < MIN_RESOLUTION:
        raise UserError(f"--resolution {resolution} is too coarse for a mesh: give at least {MIN_RESOLUTION} (default 192)")
    need, limit = BASE_BYTES + BYTES_PER_CELL * resolution**3, memory_limit()
    if need > limit:
        most = int(((limit - BASE_BYTES) / BYTES_PER_CELL) ** (1 / 3))
        raise UserError(f"--resolution {resolution} needs about {need / 2**30:.0f} GiB for its grid, more than the "
                        f"{limit / 2**30:.0f} GiB here: use at most about {most}")  # fmt: skip


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
    """Keep the largest connected components (drops floaters), Taubin-smooth, decimate. Returns (vertices, faces)."""
    import trimesh

    cfg = cfg or MeshConfig()
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    if cfg.keep_components > 0 and len(mesh.faces):
        # components by shared edges, as trimesh's split; one submesh of the kept faces (a marching-cubes mesh has
        # hundreds of floaters, and a submesh each is most of the time)
        labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(mesh.faces))
        sizes = np.bincount(labels)
        order = np.argsort(-sizes, kind="stable")[: cfg.keep_components]
        big = [c for c in order if sizes[c] >= cfg.min_component_fraction * len(mesh.faces)] or list(order[:1])
        mesh = mesh.submesh([np.flatnonzero(np.isin(labels, big))], append=True)
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces, dtype=np.int64)
    v = taubin_smooth(v, f, cfg.smooth_iterations)
    if cfg.target_faces and len(f) > cfg.target_faces:
        v, f = decimate(v, f, cfg.target_faces)
    return v, f


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, iterations: int, lamb: float = 0.5,
                  mu: float = -0.53) -> np.ndarray:  # fmt: skip
    """Taubin's lambda/mu smoothing (a shrinking then an inflating Laplacian step per pass): removes the voxel
    staircase of marching cubes without the shrinking of plain Laplacian smoothing. Returns new vertices V x 3."""
    import trimesh
    from trimesh.smoothing import filter_taubin

    if iterations <= 0:
        return vertices
    mesh = trimesh.Trimesh(vertices.copy(), faces, process=False)
    filter_taubin(mesh, lamb=lamb, nu=-mu, iterations=iterations)
    return np.asarray(mesh.vertices)


def decimate(vertices: np.ndarray, faces: np.ndarray, target_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric-error edge collapse (fast-simplification) down to about `target_faces`, then drop the leftovers:
    degenerate faces, back-to-back face pairs (a collapsed fin: its vertices would get no normal) and unreferenced
    vertices. Returns (vertices, faces)."""
    import fast_simplification
    import trimesh

    v, f = fast_simplification.simplify(vertices, faces.astype(np.int64), target_count=int(target_faces))
    mesh = trimesh.Trimesh(v, f, process=True)  # merges duplicates, drops unreferenced vertices
    keep = mesh.nondegenerate_faces()
    _, inverse, counts = np.unique(np.sort(mesh.faces, 1), axis=0, return_inverse=True, return_counts=True)
    keep &= counts[inverse.reshape(-1)] == 1
    mesh.update_faces(keep)
    mesh.remove_unreferenced_vertices()
    return np.asarray(mesh.vertices), np.asarray(mesh.faces, dtype=np.int64)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Smooth unit vertex normals (the angle-weighted mean of the faces' normals), V x 3 float32."""
    import trimesh

    n = np.array(trimesh.Trimesh(vertices, faces, process=False).vertex_normals, dtype=np.float64)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    bad = ~np.isfinite(n).all(1) | (np.linalg.norm(n, axis=1) < 0.5)
    n[bad] = (0.0, 1.0, 0.0)  # an isolated vertex has no face to give it a direction
    return n.astype(np.float32)


def vertex_colors(fn: ColorFn, vertices: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Colours of the field at the mesh vertices: V x 3 in [0, 1]."""
    out = []
    with torch.no_grad():
        for s in range(0, len(vertices), chunk):
            out.append(fn(torch.from_numpy(vertices[s : s + chunk]).float()).cpu().numpy())
    return np.clip(np.concatenate(out) if out else np.zeros((0, 3)), 0, 1)


def transfer_from_body(vertices: np.ndarray, body_vertices: np.ndarray, values: np.ndarray, k: int = 4) -> np.ndarray:
    """Per-vertex values for arbitrary vertices from the nearest body vertices (inverse-distance blend of k
    neighbours; morph targets use it). vertices N x 3, body_vertices M x 3, values M x ... -> N x ..."""
    from scipy.spatial import cKDTree

    d, idx = cKDTree(body_vertices).query(vertices, k=k)
    d, idx = d.reshape(len(vertices), -1), idx.reshape(len(vertices), -1)
    inv = 1.0 / np.maximum(d, 1e-4) ** 2
    inv = inv / inv.sum(1, keepdims=True)
    flat = values.reshape(len(values), -1)
    return np.einsum("nk,nkj->nj", inv, flat[idx]).reshape(len(vertices), *values.shape[1:])
