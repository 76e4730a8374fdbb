"""Rigged glTF 2.0 (GLB) writing: a vertex-coloured mesh, the 24-joint SMPL skeleton, skin weights, and optionally a
motion as a glTF animation, so Blender, three.js or a game engine can play the avatar with the same motions.

Bind pose = the canonical A-pose. Joint nodes carry no rest rotation: a joint's world bind transform is a translation
to its canonical position, so inverse bind matrices are pure translations. A motion frame with canonical -> posed
joint transforms A_j gives the joint node's world transform A_j @ translate(J_canonical_j).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygltflib as gl

from dreamavatar.body.skeleton import JOINT_NAMES, PARENTS
from dreamavatar.export.morph import MorphTargets, add_morph_targets, add_weight_animation
from dreamavatar.io import atomic_path

MAX_INFLUENCES = 4  # glTF's JOINTS_0 / WEIGHTS_0 carry four joints a vertex


@dataclass
class RiggedMesh:
    """vertices V x 3 (canonical pose, metres), faces F x 3, colors V x 3 in [0, 1], joints 24 x 3 (canonical),
    weights V x 24 (rows sum to 1)."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    joints: np.ndarray
    weights: np.ndarray


@dataclass
class JointAnimation:
    """joint_transforms T x 24 x 4 x 4 (canonical -> posed, as BodyOutput.joint_transforms) sampled at `fps`."""

    joint_transforms: np.ndarray
    fps: float
    name: str = "motion"


def top_influences(weights: np.ndarray, k: int = MAX_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """Keep each vertex's k largest weights, renormalised. weights V x J -> (indices V x k uint16, weights V x k)."""
    idx = np.argsort(-weights, axis=1)[:, :k]
    w = np.take_along_axis(weights, idx, axis=1).clip(min=0)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    return idx.astype(np.uint16), w.astype(np.float32)


def joint_local_trs(world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint world transforms ... x 24 x 4 x 4 -> local (translation ... x 24 x 3, rotation quaternion xyzw ... x 24 x 4)
    relative to each joint's parent (the root relative to the scene)."""
    local = world.copy()
    for j, p in enumerate(PARENTS):
        if p >= 0:
            local[..., j, :, :] = np.linalg.inv(world[..., p, :, :]) @ world[..., j, :, :]
    return local[..., :3, 3].astype(np.float32), _rotmat_to_quat_xyzw(local[..., :3, :3]).astype(np.float32)


def _rotmat_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """Rotation matrices ... x 3 x 3 -> unit quaternions ... x 4 (x, y, z, w), w >= 0."""
    import roma
    import torch

    q = roma.rotmat_to_unitquat(torch.as_tensor(np.ascontiguousarray(R), dtype=torch.float64)).numpy()
    return q * np.where(q[..., 3:] < 0, -1.0, 1.0)


def animated_joint_worlds(rest_joints: np.ndarray, joint_transforms: np.ndarray) -> np.ndarray:
    """World transforms of the joint nodes: A_j @ translate(J_j). rest_joints 24 x 3, joint_transforms T x 24 x 4 x 4."""
    bind = np.tile(np.eye(4), (len(rest_joints), 1, 1))
    bind[:, :3, 3] = rest_joints
    return joint_transforms @ bind


class _Buffer:
    """Accumulates binary data and the accessors that view it."""

    def __init__(self, doc: gl.GLTF2):
        self.doc, self.data = doc, bytearray()

    def add(self, array: np.ndarray, gl_type: str, component: int, target: int | None = None, minmax: bool = False,
            normalized: bool = False) -> int:
        array = np.ascontiguousarray(array)
        while len(self.data) % 4:
            self.data.append(0)
        view = gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=array.nbytes, target=target)
        self.data.extend(array.tobytes())
        self.doc.bufferViews.append(view)
        acc = gl.Accessor(
            bufferView=len(self.doc.bufferViews) - 1, componentType=component, count=len(array), type=gl_type,
            normalized=normalized or None,
        )
        if minmax:
            flat = array.reshape(len(array), -1)
            acc.min, acc.max = flat.min(0).tolist(), flat.max(0).tolist()
        self.doc.accessors.append(acc)
        return len(self.doc.accessors) - 1


def write_glb(path: str | Path, mesh: RiggedMesh, animation: JointAnimation | None = None, rigged: bool = True,
              morph: MorphTargets | None = None) -> Path:  # fmt: skip
    """Write `mesh` as a GLB (atomically). With `rigged`, add the skeleton and skin; with `animation`, a glTF
    animation of the joints (rotation + translation channels, linear interpolation); with `morph`, the ARKit morph
    targets and, if it has weights, their animation (`morph.py`)."""
    doc = gl.GLTF2(asset=gl.Asset(generator="dreamavatar", version="2.0"))
    buf = _Buffer(doc)
    F_, ARR, ELEM = gl.FLOAT, gl.ARRAY_BUFFER, gl.ELEMENT_ARRAY_BUFFER
    attrs = gl.Attributes(
        POSITION=buf.add(mesh.vertices.astype(np.float32), gl.VEC3, F_, ARR, minmax=True),
        COLOR_0=buf.add(np.clip(mesh.colors, 0, 1).astype(np.float32), gl.VEC3, F_, ARR),
    )
    indices = buf.add(mesh.faces.astype(np.uint32).reshape(-1), gl.SCALAR, gl.UNSIGNED_INT, ELEM)
    material = gl.Material(pbrMetallicRoughness=gl.PbrMetallicRoughness(metallicFactor=0.0, roughnessFactor=1.0),
                           doubleSided=True)
    doc.materials.append(material)
    doc.meshes.append(gl.Mesh(name="avatar", primitives=[gl.Primitive(attributes=attrs, indices=indices, material=0)]))
    if morph is not None:
        add_morph_targets(doc, buf, 0, morph)
    mesh_node = gl.Node(name="avatar", mesh=0)
    doc.nodes.append(mesh_node)
    roots = [0]
    if rigged:
        jidx, jw = top_influences(mesh.weights)
        attrs.JOINTS_0 = buf.add(jidx, gl.VEC4, gl.UNSIGNED_SHORT, ARR)
        attrs.WEIGHTS_0 = buf.add(jw, gl.VEC4, F_, ARR)
        first = len(doc.nodes)
        rest_world = animated_joint_worlds(mesh.joints, np.eye(4)[None, None].repeat(len(JOINT_NAMES), 1))[0]
        t_rest, r_rest = joint_local_trs(rest_world)
        for j, name in enumerate(JOINT_NAMES):
            children = [first + c for c, p in enumerate(PARENTS) if p == j]
            doc.nodes.append(gl.Node(name=name, translation=t_rest[j].tolist(), rotation=r_rest[j].tolist(),
                                     children=children or None))
        ibm = np.tile(np.eye(4, dtype=np.float32), (len(JOINT_NAMES), 1, 1))
        ibm[:, :3, 3] = -mesh.joints
        ibm_acc = buf.add(ibm.transpose(0, 2, 1).reshape(len(JOINT_NAMES), 16), gl.MAT4, F_)  # column-major
        doc.skins.append(gl.Skin(name="smpl24", joints=list(range(first, first + len(JOINT_NAMES))),
                                 inverseBindMatrices=ibm_acc, skeleton=first))
        mesh_node.skin = 0
        roots.append(first)
        if animation is not None:
            _add_animation(doc, buf, mesh.joints, animation, first)
    if morph is not None and morph.weights is not None:
        add_weight_animation(doc, buf, 0, morph.weights, morph.fps, animation.name if animation else "face")
    doc.scenes.append(gl.Scene(nodes=roots))
    doc.scene = 0
    doc.buffers.append(gl.Buffer(byteLength=len(buf.data)))
    doc.set_binary_blob(bytes(buf.data))
    path = Path(path)
    with atomic_path(path) as tmp:
        doc.save_binary(str(tmp))
    return path


def _add_animation(doc: gl.GLTF2, buf: _Buffer, rest_joints: np.ndarray, anim: JointAnimation, first: int) -> None:
    worlds = animated_joint_worlds(rest_joints, anim.joint_transforms)
    trans, rots = joint_local_trs(worlds)  # T x 24 x 3, T x 24 x 4
    times = (np.arange(len(worlds), dtype=np.float32) / anim.fps)
    t_acc = buf.add(times, gl.SCALAR, gl.FLOAT, minmax=True)
    samplers, channels = [], []
    for j in range(len(JOINT_NAMES)):
        for path, values, kind in (("rotation", rots[:, j], gl.VEC4), ("translation", trans[:, j], gl.VEC3)):
            samplers.append(gl.AnimationSampler(input=t_acc, output=buf.add(values, kind, gl.FLOAT),
                                                interpolation="LINEAR"))
            channels.append(gl.AnimationChannel(sampler=len(samplers) - 1,
                                                target=gl.AnimationChannelTarget(node=first + j, path=path)))
    doc.animations.append(gl.Animation(name=anim.name, samplers=samplers, channels=channels))


def read_skin(path: str | Path) -> dict[str, np.ndarray]:
    """Read back what `write_glb` wrote: positions, joint indices/weights, inverse bind matrices, joint node rest
    world transforms, and the animation's per-frame joint world transforms if any (for tests and tools)."""
    doc = gl.GLTF2().load(str(path))
    blob = doc.binary_blob()

    def acc(i: int) -> np.ndarray:
        a, v = doc.accessors[i], doc.bufferViews[doc.accessors[i].bufferView]
        dtype = {gl.FLOAT: np.float32, gl.UNSIGNED_SHORT: np.uint16, gl.UNSIGNED_INT: np.uint32}[a.componentType]
        n = {gl.SCALAR: 1, gl.VEC3: 3, gl.VEC4: 4, gl.MAT4: 16}[a.type]
        return np.frombuffer(blob, dtype, a.count * n, v.byteOffset).reshape(a.count, n)

    prim = doc.meshes[0].primitives[0]
    skin = doc.skins[0]
    out = {
        "positions": acc(prim.attributes.POSITION),
        "joints": acc(prim.attributes.JOINTS_0).astype(np.int64),
        "weights": acc(prim.attributes.WEIGHTS_0),
        "inverse_bind": acc(skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1),
    }
    nodes = skin.joints

    def worlds(trs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        W = np.zeros((len(nodes), 4, 4))
        for j, (t, q) in enumerate(trs):
            L = np.eye(4)
            L[:3, :3] = _quat_xyzw_to_rotmat(q)
            L[:3, 3] = t
            W[j] = L if PARENTS[j] < 0 else W[PARENTS[j]] @ L
        return W

    out["rest_world"] = worlds([(np.array(doc.nodes[n].translation), np.array(doc.nodes[n].rotation)) for n in nodes])
    if doc.animations:
        chans = {(c.target.node, c.target.path): acc(doc.animations[0].samplers[c.sampler].output)
                 for c in doc.animations[0].channels}
        T = len(next(iter(chans.values())))
        out["anim_world"] = np.stack(
            [worlds([(chans[(n, "translation")][f], chans[(n, "rotation")][f]) for n in nodes]) for f in range(T)]
        )
    return out


def _quat_xyzw_to_rotmat(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def skin_vertices(data: dict[str, np.ndarray], world: np.ndarray) -> np.ndarray:
    """Linear blend skinning of read-back GLB data with joint world transforms 24 x 4 x 4 -> V x 3 (as a viewer does)."""
    M = world @ data["inverse_bind"]  # 24 x 4 x 4
    P = np.concatenate([data["positions"], np.ones((len(data["positions"]), 1))], 1)
    per = np.einsum("vkab,vb->vka", M[data["joints"]], P)[..., :3]  # V x 4 x 3
    return (per * data["weights"][..., None]).sum(1)
