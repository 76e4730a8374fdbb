"""Export a loaded avatar: its mesh (marching cubes on the skeleton-weighted density, smoothed and decimated), skinned
to the 24-joint skeleton, placed on the floor, as a rigged GLB (with an optional embedded motion), a VRM, or OBJ/PLY
files (one, or one posed mesh per frame).

Frames: the avatar lives in the body's canonical frame (pelvis near the origin, A-pose). An export moves it so the
lowest point stands on y = 0 with the origin between the ankles (`rig.floor_offset`), optionally re-bound in the
T-pose first (VRM requires it); `ExportFrame` carries that change to every motion frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from dreamavatar.avatar import LoadedAvatar
from dreamavatar.export.gltf import MAX_INFLUENCES, JointAnimation, RiggedMesh, write_glb
from dreamavatar.export.mesh import DensityGrid, MeshConfig, choose_threshold, clean_mesh, vertex_colors, vertex_normals
from dreamavatar.export.rig import floor_offset, joint_names, shift_transforms
from dreamavatar.export.skinning import inpaint_weights, limit_influences, pose_vertices, transfer_weights


@dataclass
class AvatarMesh:
    """The avatar mesh with its skinning. vertices V x 3, faces F x 3, colors V x 3 (sRGB in [0, 1]), normals V x 3,
    weights V x 24, joints 24 x 3 (rest positions); uv V x 2 and texture H x W x 3 uint8 when baked."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    normals: np.ndarray
    weights: np.ndarray
    joints: np.ndarray
    uv: Optional[np.ndarray] = None
    texture: Optional[np.ndarray] = None

    def rigged(self, names: str = "mixamo") -> RiggedMesh:
        return RiggedMesh(self.vertices, self.faces, self.colors, self.joints, self.weights, self.normals, self.uv,
                          self.texture, joint_names(names))  # fmt: skip


@torch.no_grad()
def extract_avatar_mesh(loaded: LoadedAvatar, cfg: MeshConfig | None = None) -> AvatarMesh:
    """Marching cubes on the avatar's density in the canonical pose, cleaned, smoothed and decimated, coloured by its
    albedo, skinned from the closest points of the canonical body surface, filled in and smoothed where those are not
    trusted (`skinning.inpaint_weights`). In the canonical frame."""
    from dreamavatar.errors import UserError

    cfg = cfg or MeshConfig()
    canonical = loaded.body.canonical()
    posed = loaded.avatar.posed(canonical, 0, baked=loaded.baked)
    box = posed.aabb()
    occupied = posed.occupancy()  # where the avatar has density (its extent + a margin, the inside filled)

    def density(p: torch.Tensor) -> torch.Tensor:  # zero elsewhere: far below any iso-level
        sigma = p.new_zeros(p.shape[0])
        keep = torch.nonzero(occupied.query(p)).squeeze(-1)
        return sigma.index_put((keep,), posed(p[keep], torch.zeros_like(p[keep]))[0]) if len(keep) else sigma

    grid = DensityGrid.sample(density, box[0].numpy(), box[1].numpy(), cfg.resolution, cfg.chunk)
    level = cfg.threshold
    if level is None:
        level, _ = choose_threshold(grid, silhouette_scorer(loaded, canonical))
    v, f = grid.iso_surface(level)
    if len(f) == 0:
        raise UserError(f"the avatar's density never reaches the mesh threshold {level}: give a lower --threshold")
    v, f = clean_mesh(v, f, cfg)
    colors = vertex_colors(color_function(loaded), v)
    normals = vertex_normals(v, f)
    weights, trusted = transfer_weights(v, canonical.vertices[0].double().numpy(),
                                        canonical.faces.numpy().astype(np.int64), canonical.weights.double().numpy(),
                                        normals, cfg.trust_distance, cfg.trust_angle)  # fmt: skip
    weights = limit_influences(inpaint_weights(weights, v, f, trusted, cfg.weight_radius), v, f, MAX_INFLUENCES)
    return AvatarMesh(v, f, colors, normals, weights, canonical.joints[0].double().numpy())


def color_function(loaded: LoadedAvatar):
    """points N x 3 (canonical) -> the avatar's albedo N x 3 (sRGB in [0, 1])."""
    query = loaded.baked.query if loaded.baked is not None else loaded.avatar.canonical.query
    return lambda p: query(p)[1]


def silhouette_scorer(loaded: LoadedAvatar, out, size: int = 64, views: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)):
    """A function (vertices, faces) -> mean IoU of the mesh's silhouettes against the avatar's rendered opacity > 0.5,
    from level cameras around the body (posed as `out`)."""
    from dreamavatar.condition import azimuth_cameras
    from renderers.raycast import mesh_silhouette

    cams = azimuth_cameras(views, size, loaded.height, loaded.center_y)
    rendered = loaded.render(out, cams)["opacity"] > 0.5

    def score(vertices: np.ndarray, faces: np.ndarray) -> float:
        v = torch.from_numpy(vertices).float()[None].expand(len(cams), -1, -1)
        mask = mesh_silhouette(cams, v, torch.from_numpy(faces))
        inter = (mask & rendered).flatten(1).sum(1).float()
        union = (mask | rendered).flatten(1).sum(1).float().clamp(min=1)
        return float((inter / union).mean())

    return score


@dataclass
class ExportFrame:
    """How the exported rig relates to the canonical one: rest_from_canonical 24 x 4 x 4 (canonical -> export rest
    pose per joint; identity for the A-pose) and the floor offset (metres)."""

    rest_from_canonical: np.ndarray
    offset: np.ndarray

    def transforms(self, canonical_to_posed: np.ndarray) -> np.ndarray:
        """Canonical -> posed joint transforms (T x 24 x 4 x 4, body frame) -> export rest -> posed (export frame)."""
        return shift_transforms(canonical_to_posed @ np.linalg.inv(self.rest_from_canonical), self.offset)


def place(mesh: AvatarMesh, loaded: LoadedAvatar, rest: str = "a") -> tuple[AvatarMesh, ExportFrame]:
    """The mesh re-bound in the rest pose `rest` ("a": the canonical A-pose; "t": the T-pose, arms along x) and moved
    onto the floor (lowest point at y = 0, origin between the ankles)."""
    if rest == "t":
        with torch.no_grad():
            t_pose = loaded.pose(torch.zeros(1, 24, 3))
        B = t_pose.joint_transforms[0].double().numpy()
        M = np.einsum("vj,jab->vab", mesh.weights, B)
        normals = np.einsum("vab,vb->va", M[:, :3, :3], mesh.normals)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        mesh = replace(mesh, vertices=pose_vertices(mesh.vertices, mesh.weights, B), normals=normals,
                       joints=t_pose.joints[0].double().numpy())  # fmt: skip
    elif rest == "a":
        B = np.tile(np.eye(4), (24, 1, 1))
    else:
        raise ValueError(f"unknown rest pose {rest!r}: a or t")
    offset = floor_offset(mesh.vertices, mesh.joints)
    placed = replace(mesh, vertices=mesh.vertices + offset, joints=mesh.joints + offset)
    return placed, ExportFrame(B, offset)


def add_texture(mesh: AvatarMesh, loaded: LoadedAvatar, frame: ExportFrame, size: int) -> tuple[AvatarMesh, np.ndarray]:
    """Unwrap the (placed) mesh and bake the field's colours into a size x size baseColor texture. The field is read
    at each texel's surface point taken back to the canonical pose (skinning inverted per texel). Returns (the mesh,
    its vertices split along the seams; the original vertex of each)."""
    from dreamavatar.export.texture import bake, unwrap

    vmap, faces, uv = unwrap(mesh.vertices, mesh.faces, size)
    w = mesh.weights[vmap]
    canonical = _canonical_points(mesh, frame)[vmap]
    texture = bake(color_function(loaded), canonical, faces, uv, size)
    out = AvatarMesh(mesh.vertices[vmap], faces, mesh.colors[vmap], mesh.normals[vmap], w, mesh.joints, uv, texture)
    return out, vmap


def _canonical_points(mesh: AvatarMesh, frame: ExportFrame) -> np.ndarray:
    """The placed mesh's vertices in the canonical frame (inverse of `place`)."""
    v = mesh.vertices - frame.offset
    M = np.linalg.inv(np.einsum("vj,jab->vab", mesh.weights, frame.rest_from_canonical))
    return np.einsum("vab,vb->va", M[:, :3, :3], v) + M[:, :3, 3]


def motion_joint_transforms(loaded: LoadedAvatar, motion) -> np.ndarray:
    """Canonical -> posed joint transforms of every frame (with the face track's head rotation): T x 24 x 4 x 4."""
    with torch.no_grad():
        return torch.cat([
            loaded.pose(motion.poses[s : s + 64], motion.transl[s : s + 64], motion.face_pose(s, s + 64))
            .joint_transforms.double()
            for s in range(0, len(motion), 64)
        ]).numpy()  # fmt: skip


def motion_morphs(loaded: LoadedAvatar, mesh: AvatarMesh, motion):
    """The ARKit morph targets (`morph.MorphTargets`) of a canonical-frame mesh with the motion's face curves as
    their weights (eye rotations as gaze curves, as the body applies them), or None for a motion without a face."""
    from dreamavatar.body.face import effective_curves
    from dreamavatar.export.morph import face_morph_targets

    if motion.face is None:
        return None
    weights = effective_curves(motion.face_pose(0, len(motion)), len(motion)).double().numpy()
    return face_morph_targets(loaded.body, mesh.vertices, weights, motion.fps)


def export_glb(mesh: AvatarMesh, path: Path, rigged: bool, joint_transforms: np.ndarray | None = None,
               fps: float = 30.0, name: str = "motion", names: str = "mixamo", morph=None) -> Path:  # fmt: skip
    """A GLB of a placed mesh; joint_transforms: export rest -> posed (`ExportFrame.transforms`); morph: the ARKit
    targets (`morph.MorphTargets`) with their animation."""
    anim = JointAnimation(joint_transforms, fps, name) if joint_transforms is not None else None
    return write_glb(path, mesh.rigged(names), anim, rigged=rigged or anim is not None, morph=morph)


def export_static(mesh: AvatarMesh, path: Path, up: str = "y") -> Path:
    """OBJ or PLY of a mesh with sRGB vertex colours and normals; up "z" turns y-up into z-up (x, -z, y), the frame
    Blender's PLY importer assumes."""
    import trimesh

    from dreamavatar.io import atomic_write

    R = np.eye(3) if up == "y" else np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    colors = (np.clip(mesh.colors, 0, 1) * 255 + 0.5).astype(np.uint8)
    tm = trimesh.Trimesh(mesh.vertices @ R.T, mesh.faces, vertex_normals=mesh.normals @ R.T, vertex_colors=colors,
                         process=False)  # fmt: skip
    data = tm.export(file_type=path.suffix[1:].lower())
    return atomic_write(path, lambda f: f.write(data if isinstance(data, bytes) else data.encode()))


def export_sequence(mesh: AvatarMesh, path: Path, joint_transforms: np.ndarray, up: str = "y",
                    morph=None) -> list[Path]:  # fmt: skip
    """One OBJ/PLY per frame, the mesh (with the frame's morph weights applied first) posed by linear blend skinning
    (export rest -> posed transforms): PATH_STEM_0000.ext, ..."""
    paths = []
    for f, T in enumerate(joint_transforms):
        v = mesh.vertices
        if morph is not None and morph.weights is not None:
            v = v + np.einsum("k,kvd->vd", morph.weights[min(f, len(morph.weights) - 1)], morph.offsets)
        M = np.einsum("vj,jab->vab", mesh.weights, T)[:, :3, :3]
        n = np.einsum("vab,vb->va", M, mesh.normals)
        posed = replace(mesh, vertices=pose_vertices(v, mesh.weights, T),
                        normals=n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12))  # fmt: skip
        paths.append(export_static(posed, path.with_name(f"{path.stem}_{f:04d}{path.suffix}"), up))
    return paths


BODY_CREDITS = {
    "anny": "Body model: anny (NAVER LABS Europe, Apache-2.0 code; MakeHuman assets, CC0).",
    "smpl": "Skinning weights derived from SMPL (Max Planck Institute for Intelligent Systems; see its licence at "
            "https://smpl.is.tue.mpg.de before any use).",
}  # fmt: skip


def export_vrm(mesh: AvatarMesh, path: Path, loaded: LoadedAvatar, meta_items: list[str], names: str = "mixamo",
               morph_targets: tuple | None = None) -> Path:  # fmt: skip
    """A VRM 1.0 of a mesh placed in the T-pose; meta from `--meta KEY=VALUE` items over defaults (the prompt as the
    name, dreamavatar as the author, the body model's credit as third-party licences, VRM's default permissions)."""
    from dreamavatar.export.vrm import parse_meta, write_vrm

    cfg = loaded.cfg
    defaults = {"name": (cfg.prompt or "dreamavatar avatar")[:200], "authors": ["dreamavatar"],
                "thirdPartyLicenses": BODY_CREDITS.get(cfg.body, "")}  # fmt: skip
    return write_vrm(path, mesh.rigged(names), parse_meta(meta_items, defaults), morph_targets)
