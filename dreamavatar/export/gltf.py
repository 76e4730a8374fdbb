"""glTF 2.0 (GLB) writing: a mesh with smooth normals and linear vertex colours (or a baseColor texture), the 24-joint
skeleton, skin weights, morph targets, and optionally a motion as a glTF animation, for Blender, three.js, game
engines and (with `vrm.py`) VRM apps.

Conventions (the README's Export section): metres, y up, the body faces +z; COLOR_0 is linear (glTF's definition)
while a baseColor texture is sRGB; a vertex's unused influences carry joint 0 with weight 0.
Bind pose: joint nodes carry no rest rotation, so a joint's world bind transform is a translation to its rest position
and inverse bind matrices are pure translations. A motion frame with rest -> posed joint transforms A_j gives the joint
node's world transform A_j @ translate(J_rest_j).

`GlbBuilder` assembles a document piece by piece (`add_mesh`, `add_morph_targets`, `add_skeleton`, `add_animation`);
`write_glb` is the usual composition of them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pygltflib as gl

from dreamavatar.body.skeleton import JOINT_NAMES, PARENTS

MAX_INFLUENCES = 4  # glTF's JOINTS_0 / WEIGHTS_0 carry four joints a vertex
MIN_WEIGHT = 1e-3  # influences below this are dropped (and the rest renormalised)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light (IEC 61966-2-1), the colour space of glTF's COLOR_0."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0, 1)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@dataclass
class RiggedMesh:
    """vertices V x 3 (rest pose, metres), faces F x 3, colors V x 3 sRGB in [0, 1], joints 24 x 3 (rest), weights
    V x 24 (rows sum to 1); normals V x 3 (unit; None: none written); uv V x 2 and texture H x W x 3 uint8 sRGB
    (both or neither: the texture replaces the vertex colours); joint_names: the skeleton's node names."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    normals: Optional[np.ndarray] = None
    uv: Optional[np.ndarray] = None
    texture: Optional[np.ndarray] = None
    joint_names: Sequence[str] = field(default_factory=lambda: JOINT_NAMES)


@dataclass
class JointAnimation:
    """joint_transforms T x 24 x 4 x 4 (rest -> posed, as BodyOutput.joint_transforms) sampled at `fps`."""

    joint_transforms: np.ndarray
    fps: float
    name: str = "motion"


def top_influences(weights: np.ndarray, k: int = MAX_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """Each vertex's k largest weights, those under MIN_WEIGHT dropped, renormalised; a slot left with weight 0
    carries joint 0 (glTF: no joint index with zero weight). weights V x J -> (indices V x k uint16, weights V x k)."""
    idx = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    w = np.take_along_axis(weights, idx, axis=1).clip(min=0)
    w = np.where(w >= MIN_WEIGHT * w[:, :1], w, 0.0)  # the largest always stays
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    w32 = w.astype(np.float32)
    w32[:, 0] += np.float32(1.0) - w32.sum(1, dtype=np.float32)  # float32 sums to 1 as the validator checks
    idx = np.where(w32 > 0, idx, 0)
    return idx.astype(np.uint16), w32


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


class GlbBuilder:
    """A glTF document and its one binary buffer, filled by the add_* methods; `to_bytes` packs the GLB."""

    def __init__(self, generator: str = "dreamavatar"):
        self.doc = gl.GLTF2(asset=gl.Asset(generator=generator, version="2.0"))
        self.data = bytearray()
        self.roots: list[int] = []

    # ------------------------------------------------------------------ buffers
    def add_view(self, payload: bytes, target: int | None = None) -> int:
        while len(self.data) % 4:
            self.data.append(0)
        self.doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(payload),
                                                  target=target))  # fmt: skip
        self.data.extend(payload)
        return len(self.doc.bufferViews) - 1

    def add_accessor(self, array: np.ndarray, gl_type: str, component: int, target: int | None = None,
                     minmax: bool = False) -> int:  # fmt: skip
        array = np.ascontiguousarray(array)
        acc = gl.Accessor(bufferView=self.add_view(array.tobytes(), target), componentType=component,
                          count=len(array), type=gl_type)  # fmt: skip
        if minmax:
            flat = array.reshape(len(array), -1)
            acc.min, acc.max = flat.min(0).tolist(), flat.max(0).tolist()
        self.doc.accessors.append(acc)
        return len(self.doc.accessors) - 1

    add = add_accessor  # the name `morph.py` writes with

    def add_node(self, node: gl.Node, root: bool = False) -> int:
        self.doc.nodes.append(node)
        if root:
            self.roots.append(len(self.doc.nodes) - 1)
        return len(self.doc.nodes) - 1

    # ------------------------------------------------------------------ mesh
    def add_texture(self, image: np.ndarray) -> int:
        """An H x W x 3 uint8 sRGB image as a PNG texture (linear filtering, mipmaps). Returns the texture index."""
        from PIL import Image

        png = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(png, format="PNG")
        self.doc.images.append(gl.Image(bufferView=self.add_view(png.getvalue()), mimeType="image/png"))
        self.doc.samplers.append(gl.Sampler(magFilter=gl.LINEAR, minFilter=gl.LINEAR_MIPMAP_LINEAR,
                                            wrapS=gl.CLAMP_TO_EDGE, wrapT=gl.CLAMP_TO_EDGE))  # fmt: skip
        self.doc.textures.append(gl.Texture(source=len(self.doc.images) - 1, sampler=len(self.doc.samplers) - 1))
        return len(self.doc.textures) - 1

    def add_mesh(self, mesh: RiggedMesh, name: str = "avatar") -> tuple[int, gl.Primitive]:
        """The mesh as one primitive: POSITION, NORMAL, COLOR_0 (linear) or TEXCOORD_0 + baseColorTexture, and a
        matte, double-sided material. Returns (mesh index, primitive) for skins and morph targets to extend."""
        ARR = gl.ARRAY_BUFFER
        attrs = gl.Attributes(POSITION=self.add_accessor(mesh.vertices.astype(np.float32), gl.VEC3, gl.FLOAT, ARR,
                                                         minmax=True))  # fmt: skip
        if mesh.normals is not None:
            attrs.NORMAL = self.add_accessor(_unit(mesh.normals), gl.VEC3, gl.FLOAT, ARR)
        pbr = gl.PbrMetallicRoughness(metallicFactor=0.0, roughnessFactor=1.0)
        if mesh.texture is not None:
            attrs.TEXCOORD_0 = self.add_accessor(mesh.uv.astype(np.float32), gl.VEC2, gl.FLOAT, ARR)
            pbr.baseColorTexture = gl.TextureInfo(index=self.add_texture(mesh.texture))
        else:
            attrs.COLOR_0 = self.add_accessor(srgb_to_linear(mesh.colors).astype(np.float32), gl.VEC3, gl.FLOAT, ARR)
        indices = self.add_accessor(mesh.faces.astype(np.uint32).reshape(-1), gl.SCALAR, gl.UNSIGNED_INT,
                                    gl.ELEMENT_ARRAY_BUFFER)  # fmt: skip
        self.doc.materials.append(gl.Material(name=name, pbrMetallicRoughness=pbr, doubleSided=True))
        prim = gl.Primitive(attributes=attrs, indices=indices, material=len(self.doc.materials) - 1)
        self.doc.meshes.append(gl.Mesh(name=name, primitives=[prim]))
        return len(self.doc.meshes) - 1, prim

    def add_morph_targets(self, mesh_index: int, prim: gl.Primitive, names: Sequence[str],
                          position_deltas: np.ndarray, normal_deltas: np.ndarray | None = None) -> None:  # fmt: skip
        """Morph targets on a primitive: position_deltas (and optional normal_deltas) N x V x 3, named in the mesh's
        `extras.targetNames` (the convention Blender, three.js and VRM read), default weights 0."""
        for n in range(len(names)):
            t = gl.Attributes(POSITION=self.add_accessor(position_deltas[n].astype(np.float32), gl.VEC3, gl.FLOAT,
                                                         gl.ARRAY_BUFFER, minmax=True))  # fmt: skip
            if normal_deltas is not None:
                t.NORMAL = self.add_accessor(normal_deltas[n].astype(np.float32), gl.VEC3, gl.FLOAT, gl.ARRAY_BUFFER)
            prim.targets.append(t)
        m = self.doc.meshes[mesh_index]
        m.weights = [0.0] * len(prim.targets)
        m.extras = {**(m.extras or {}), "targetNames": [*(m.extras or {}).get("targetNames", []), *names]}

    # ------------------------------------------------------------------ skeleton
    def add_skeleton(self, mesh: RiggedMesh, prim: gl.Primitive, mesh_node: int) -> int:
        """Joint nodes (rest translations, no rotation), JOINTS_0 / WEIGHTS_0 on `prim`, and a skin on `mesh_node`.
        Returns the node index of the first joint (the root); joint j is node first + j."""
        jidx, jw = top_influences(mesh.weights)
        prim.attributes.JOINTS_0 = self.add_accessor(jidx, gl.VEC4, gl.UNSIGNED_SHORT, gl.ARRAY_BUFFER)
        prim.attributes.WEIGHTS_0 = self.add_accessor(jw, gl.VEC4, gl.FLOAT, gl.ARRAY_BUFFER)
        first = len(self.doc.nodes)
        n = len(JOINT_NAMES)
        t_rest, r_rest = joint_local_trs(animated_joint_worlds(mesh.joints, np.eye(4)[None, None].repeat(n, 1))[0])
        for j, name in enumerate(mesh.joint_names):
            children = [first + c for c, p in enumerate(PARENTS) if p == j]
            self.add_node(gl.Node(name=name, translation=t_rest[j].tolist(), rotation=r_rest[j].tolist(),
                                  children=children or None), root=PARENTS[j] < 0)  # fmt: skip
        ibm = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
        ibm[:, :3, 3] = -mesh.joints
        ibm_acc = self.add_accessor(ibm.transpose(0, 2, 1).reshape(n, 16), gl.MAT4, gl.FLOAT)  # column-major
        self.doc.skins.append(gl.Skin(name="skeleton", joints=list(range(first, first + n)),
                                      inverseBindMatrices=ibm_acc, skeleton=first))  # fmt: skip
        self.doc.nodes[mesh_node].skin = len(self.doc.skins) - 1
        return first

    def add_animation(self, rest_joints: np.ndarray, anim: JointAnimation, first: int) -> None:
        """A glTF animation of the joint nodes (rotation + translation channels, linear interpolation)."""
        trans, rots = joint_local_trs(animated_joint_worlds(rest_joints, anim.joint_transforms))  # T x 24 x 3 / 4
        t_acc = self.add_accessor(np.arange(len(trans), dtype=np.float32) / np.float32(anim.fps), gl.SCALAR,
                                  gl.FLOAT, minmax=True)  # fmt: skip
        samplers, channels = [], []
        for j in range(len(JOINT_NAMES)):
            for path, values, kind in (("rotation", rots[:, j], gl.VEC4), ("translation", trans[:, j], gl.VEC3)):
                samplers.append(gl.AnimationSampler(input=t_acc, output=self.add_accessor(values, kind, gl.FLOAT),
                                                    interpolation="LINEAR"))  # fmt: skip
                channels.append(gl.AnimationChannel(sampler=len(samplers) - 1,
                                                    target=gl.AnimationChannelTarget(node=first + j, path=path)))
        self.doc.animations.append(gl.Animation(name=anim.name, samplers=samplers, channels=channels))

    # ------------------------------------------------------------------ output
    def add_extension(self, name: str, value: dict) -> None:
        self.doc.extensions = {**(self.doc.extensions or {}), name: value}
        if name not in self.doc.extensionsUsed:
            self.doc.extensionsUsed.append(name)

    def to_bytes(self) -> bytes:
        doc = self.doc
        doc.scenes = [gl.Scene(nodes=list(self.roots))]
        doc.scene = 0
        doc.buffers = [gl.Buffer(byteLength=len(self.data))]
        doc.set_binary_blob(bytes(self.data))
        return b"".join(doc.save_to_bytes())

    def save(self, path: str | Path) -> Path:
        from dreamavatar.io import atomic_write

        data = self.to_bytes()
        return atomic_write(path, lambda f: f.write(data))


def _unit(n: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=np.float64)
    return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def build_glb(mesh: RiggedMesh, animation: JointAnimation | None = None, rigged: bool = True,
              morph=None) -> tuple[GlbBuilder, int]:  # fmt: skip
    """The document of `write_glb`, for callers that add to it (VRM). Returns (builder, the mesh node); with
    `rigged`, joint j is node mesh_node + 1 + j. `morph`: `morph.MorphTargets` (ARKit targets, optional weights)."""
    from dreamavatar.export.morph import add_morph_targets, add_weight_animation

    b = GlbBuilder()
    mesh_index, prim = b.add_mesh(mesh)
    if morph is not None:
        add_morph_targets(b.doc, b, mesh_index, morph)
    mesh_node = b.add_node(gl.Node(name="avatar", mesh=mesh_index), root=True)
    if rigged or animation is not None:
        first = b.add_skeleton(mesh, prim, mesh_node)
        if animation is not None:
            b.add_animation(mesh.joints, animation, first)
    if morph is not None and morph.weights is not None:
        add_weight_animation(b.doc, b, mesh_node, morph.weights, morph.fps, animation.name if animation else "face")
    return b, mesh_node


def write_glb(path: str | Path, mesh: RiggedMesh, animation: JointAnimation | None = None, rigged: bool = True,
              morph=None) -> Path:  # fmt: skip
    """Write `mesh` as a GLB (atomically). With `rigged`, add the skeleton and skin; with `animation`, a glTF
    animation of the joints; with `morph`, the ARKit morph targets and, if it has weights, their animation."""
    return build_glb(mesh, animation, rigged, morph)[0].save(path)


# ---------------------------------------------------------------------- reading back (tests and tools)


def load_glb(path: str | Path) -> gl.GLTF2:
    """A binary glTF by its content, whatever its extension (.glb, .vrm)."""
    return gl.GLTF2().load_binary(str(path))


def read_skin(path: str | Path) -> dict[str, np.ndarray]:
    """Read back what `write_glb` wrote: positions, normals, joint indices/weights, inverse bind matrices, joint node
    rest world transforms, and the animation's per-frame joint world transforms if any."""
    doc = load_glb(path)
    blob = doc.binary_blob()

    def acc(i: int) -> np.ndarray:
        a, v = doc.accessors[i], doc.bufferViews[doc.accessors[i].bufferView]
        dtype = {gl.FLOAT: np.float32, gl.UNSIGNED_SHORT: np.uint16, gl.UNSIGNED_INT: np.uint32}[a.componentType]
        n = {gl.SCALAR: 1, gl.VEC2: 2, gl.VEC3: 3, gl.VEC4: 4, gl.MAT4: 16}[a.type]
        return np.frombuffer(blob, dtype, a.count * n, v.byteOffset).reshape(a.count, n)

    prim = doc.meshes[0].primitives[0]
    out = {"positions": acc(prim.attributes.POSITION), "faces": acc(prim.indices).reshape(-1, 3).astype(np.int64)}
    if prim.attributes.NORMAL is not None:
        out["normals"] = acc(prim.attributes.NORMAL)
    if prim.attributes.COLOR_0 is not None:
        out["colors"] = acc(prim.attributes.COLOR_0)
    if not doc.skins:
        return out
    skin = doc.skins[0]
    out.update({
        "joints": acc(prim.attributes.JOINTS_0).astype(np.int64),
        "weights": acc(prim.attributes.WEIGHTS_0),
        "inverse_bind": acc(skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1),
        "joint_names": np.array([doc.nodes[n].name for n in skin.joints]),
    })  # fmt: skip
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
