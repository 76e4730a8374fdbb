"""ARKit morph targets for exported meshes: the body's 52 face offsets carried over to the avatar's own mesh, and
their weights over time as a glTF animation (Blender shape keys, three.js `morphTargetDictionary`, game engines).

Each exported vertex takes the inverse-distance blend of the canonical-frame offsets of its nearest body vertices
(the same neighbours its skin weights come from), so the mesh's lips and jaw move with the body's; a target is
stored sparse (only the vertices it moves), named as ARKit names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dreamavatar.body.face import ARKIT_NAMES

MOVES = 1e-5  # metres: smaller offsets are left out of a sparse target


@dataclass
class MorphTargets:
    """names (52, ARKit's), offsets K x V x 3 (canonical frame, metres) for the mesh's V vertices, and optionally
    weights T x K (the curves of an animation, frame k at k / fps)."""

    names: tuple[str, ...]
    offsets: np.ndarray
    weights: np.ndarray | None = None
    fps: float = 30.0


def transfer_face_basis(vertices: np.ndarray, body_vertices: np.ndarray, basis: np.ndarray, k: int = 4) -> np.ndarray:
    """Morph offsets K x N x 3 for mesh vertices N x 3 from the body's canonical vertices M x 3 and its face basis
    K x M x 3 (only body vertices some curve moves take part, so the search is small)."""
    from dreamavatar.export.mesh import transfer_from_body

    moving = np.nonzero(np.abs(basis).max(axis=(0, 2)) > MOVES)[0]
    out = np.zeros((basis.shape[0], len(vertices), 3), np.float32)
    if len(moving) == 0:
        return out
    # vertices nearer any still body vertex than the moving ones keep still: blend over the whole body, but only
    # for mesh vertices near the moving region
    from scipy.spatial import cKDTree

    near = cKDTree(body_vertices[moving]).query(vertices, k=1, distance_upper_bound=0.05)[0] < np.inf
    if near.any():
        values = np.ascontiguousarray(basis.transpose(1, 0, 2))  # M x K x 3
        out[:, near] = transfer_from_body(vertices[near], body_vertices, values, k).transpose(1, 0, 2)
    return out


def face_morph_targets(body, vertices: np.ndarray, weights: np.ndarray | None = None, fps: float = 30.0) -> MorphTargets:
    """The 52 ARKit targets of `body` (a BodyModel) on mesh vertices N x 3 (canonical), with optional T x 52
    animation weights at `fps`."""
    import torch

    with torch.no_grad():
        basis = body.face_basis().double().numpy()
        canonical = body.canonical().vertices[0].double().numpy()
    return MorphTargets(ARKIT_NAMES, transfer_face_basis(vertices, canonical, basis), weights, fps)


def sparse_target(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices uint32, values float32 n x 3) of the vertices a target N x 3 moves."""
    idx = np.nonzero(np.abs(offsets).max(1) > MOVES)[0].astype(np.uint32)
    return idx, offsets[idx].astype(np.float32)


def _view(doc, buf, array: np.ndarray) -> int:
    """A buffer view over `array` (4-byte aligned) in the GLB's one buffer."""
    import pygltflib as gl

    array = np.ascontiguousarray(array)
    while len(buf.data) % 4:
        buf.data.append(0)
    doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(buf.data), byteLength=array.nbytes))
    buf.data.extend(array.tobytes())
    return len(doc.bufferViews) - 1


def add_morph_targets(doc, buf, mesh_index: int, morph: MorphTargets) -> None:
    """Give mesh `mesh_index` (one primitive) the targets as sparse POSITION accessors (a target that moves nothing
    is an all-zero accessor), default weights 0 and their names in `extras.targetNames` (three.js and Blender read
    them)."""
    import pygltflib as gl

    mesh = doc.meshes[mesh_index]
    n = len(morph.offsets[0])
    targets = []
    for offsets in morph.offsets:
        idx, values = sparse_target(offsets)
        acc = gl.Accessor(byteOffset=None, componentType=gl.FLOAT, count=n, type=gl.VEC3, min=[0.0] * 3, max=[0.0] * 3)
        if len(idx):
            acc.sparse = gl.Sparse(
                count=len(idx),
                indices=gl.AccessorSparseIndices(bufferView=_view(doc, buf, idx), componentType=gl.UNSIGNED_INT),
                values=gl.AccessorSparseValues(bufferView=_view(doc, buf, values)),
            )
            full = np.concatenate([values, np.zeros((1, 3), np.float32)]) if len(idx) < n else values
            acc.min, acc.max = full.min(0).tolist(), full.max(0).tolist()
        doc.accessors.append(acc)
        targets.append(gl.Attributes(POSITION=len(doc.accessors) - 1))
    mesh.primitives[0].targets = targets
    mesh.weights = [0.0] * len(morph.names)
    mesh.extras = {**(mesh.extras or {}), "targetNames": list(morph.names)}


def add_weight_animation(doc, buf, node: int, weights: np.ndarray, fps: float, name: str) -> None:
    """Animate the morph weights T x K of the mesh at `node` (linear, frame k at k / fps): a channel of the file's
    first animation (so it plays with the joints), or a new animation."""
    import pygltflib as gl

    times = np.arange(len(weights), dtype=np.float32) / np.float32(fps)
    t_acc = buf.add(times, gl.SCALAR, gl.FLOAT, minmax=True)
    w_acc = buf.add(np.ascontiguousarray(weights, dtype=np.float32).reshape(-1), gl.SCALAR, gl.FLOAT)
    if not doc.animations:
        doc.animations.append(gl.Animation(name=name, samplers=[], channels=[]))
    anim = doc.animations[0]
    anim.samplers.append(gl.AnimationSampler(input=t_acc, output=w_acc, interpolation="LINEAR"))
    anim.channels.append(gl.AnimationChannel(sampler=len(anim.samplers) - 1,
                                             target=gl.AnimationChannelTarget(node=node, path="weights")))  # fmt: skip


def read_morphs(path) -> dict:
    """What a GLB holds of morph targets: names, dense offsets K x V x 3 and the weight animation T x K (None if
    absent), read back with pygltflib (for tests and tools)."""
    import pygltflib as gl

    doc = gl.GLTF2().load(str(path))
    blob = doc.binary_blob()

    def view(i: int, dtype, comps: int, count: int) -> np.ndarray:
        v = doc.bufferViews[i]
        return np.frombuffer(blob, dtype, count * comps, v.byteOffset).reshape(count, comps)

    mesh = doc.meshes[0]
    prim = mesh.primitives[0]
    offsets = []
    for t in prim.targets or []:
        acc = doc.accessors[t["POSITION"] if isinstance(t, dict) else t.POSITION]
        dense = np.zeros((acc.count, 3), np.float32)
        if acc.bufferView is not None:
            dense[:] = view(acc.bufferView, np.float32, 3, acc.count)
        if acc.sparse is not None:
            s = acc.sparse
            dtype = {gl.UNSIGNED_INT: np.uint32, gl.UNSIGNED_SHORT: np.uint16}[s.indices.componentType]
            idx = view(s.indices.bufferView, dtype, 1, s.count)[:, 0]
            dense[idx] = view(s.values.bufferView, np.float32, 3, s.count)
        offsets.append(dense)
    weights = None
    for anim in doc.animations:
        for c in anim.channels:
            if c.target.path == "weights":
                acc = doc.accessors[anim.samplers[c.sampler].output]
                weights = view(acc.bufferView, np.float32, 1, acc.count).reshape(-1, len(offsets))
    names = (mesh.extras or {}).get("targetNames", [])
    return {"names": names, "offsets": np.stack(offsets) if offsets else None, "weights": weights}


__all__ = ["MorphTargets", "face_morph_targets", "transfer_face_basis", "sparse_target", "add_morph_targets",
           "add_weight_animation", "read_morphs"]  # fmt: skip
