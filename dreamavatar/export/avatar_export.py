"""Export a loaded avatar: its canonical mesh (marching cubes on the skeleton-weighted density), rigged GLB with
the 24-joint skeleton and an optional embedded motion, or a numbered per-frame mesh sequence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dreamavatar.avatar import LoadedAvatar
from dreamavatar.export.gltf import JointAnimation, RiggedMesh, write_glb
from dreamavatar.export.morph import MorphTargets, face_morph_targets
from dreamavatar.export.mesh import (
    DensityGrid,
    MeshConfig,
    choose_threshold,
    clean_mesh,
    pose_vertices,
    transfer_weights,
    vertex_colors,
)


@dataclass
class AvatarMesh:
    """The canonical avatar mesh with its skinning. vertices V x 3, faces F x 3, colors V x 3, weights V x 24,
    joints 24 x 3 (canonical)."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    weights: np.ndarray
    joints: np.ndarray

    def rigged(self) -> RiggedMesh:
        return RiggedMesh(self.vertices, self.faces, self.colors, self.joints, self.weights)


@torch.no_grad()
def extract_avatar_mesh(loaded: LoadedAvatar, cfg: MeshConfig | None = None) -> AvatarMesh:
    """Marching cubes on the avatar's density in the canonical pose, cleaned, coloured by its albedo, skinned by the
    nearest canonical body vertices."""
    from dreamavatar.errors import UserError

    cfg = cfg or MeshConfig()
    canonical = loaded.body.canonical()
    posed = loaded.avatar.posed(canonical, 0, baked=loaded.baked)
    box = posed.aabb()
    density = lambda p: posed(p, torch.zeros_like(p))[0]  # noqa: E731
    grid = DensityGrid.sample(density, box[0].numpy(), box[1].numpy(), cfg.resolution, cfg.chunk)
    level = cfg.threshold
    if level is None:
        level, _ = choose_threshold(grid, silhouette_scorer(loaded, canonical))
    v, f = grid.iso_surface(level)
    if len(f) == 0:
        raise UserError(f"the avatar's density never reaches the mesh threshold {level}: give a lower --threshold")
    v, f = clean_mesh(v, f, cfg)
    query = loaded.baked.query if loaded.baked is not None else loaded.avatar.canonical.query
    colors = vertex_colors(lambda p: query(p)[1], v)
    body_v = canonical.vertices[0].double().numpy()
    weights = transfer_weights(v, body_v, canonical.weights.double().numpy())
    return AvatarMesh(v, f, colors, weights, canonical.joints[0].double().numpy())


def silhouette_scorer(loaded: LoadedAvatar, out, size: int = 64, views: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)):
    """A function (vertices, faces) -> mean IoU of the mesh's silhouettes against the avatar's rendered opacity > 0.5,
    from level cameras around the body (posed as `out`)."""
    from dreamavatar.condition import framing_radius
    from renderers.cameras import orbit_cameras
    from renderers.raycast import mesh_silhouette

    cams = orbit_cameras(framing_radius(loaded.height), 90.0, torch.tensor(views), 45.0, size,
                         (0.0, loaded.center_y, 0.0))  # fmt: skip
    rendered = loaded.render(out, cams)["opacity"] > 0.5

    def score(vertices: np.ndarray, faces: np.ndarray) -> float:
        v = torch.from_numpy(vertices).float()[None].expand(len(cams), -1, -1)
        mask = mesh_silhouette(cams, v, torch.from_numpy(faces))
        inter = (mask & rendered).flatten(1).sum(1).float()
        union = (mask | rendered).flatten(1).sum(1).float().clamp(min=1)
        return float((inter / union).mean())

    return score


def motion_joint_transforms(loaded: LoadedAvatar, motion) -> np.ndarray:
    """Canonical -> posed joint transforms of every frame (with the face track's head rotation): T x 24 x 4 x 4."""
    with torch.no_grad():
        return torch.cat([
            loaded.pose(motion.poses[s : s + 64], motion.transl[s : s + 64], motion.face_pose(s, s + 64))
            .joint_transforms.double()
            for s in range(0, len(motion), 64)
        ]).numpy()  # fmt: skip


def motion_morphs(loaded: LoadedAvatar, mesh: AvatarMesh, motion) -> MorphTargets | None:
    """The ARKit morph targets of the mesh with the motion's face curves as their weights (eye rotations as gaze
    curves, as the body applies them), or None for a motion without a face."""
    from dreamavatar.body.face import effective_curves

    if motion.face is None:
        return None
    weights = effective_curves(motion.face_pose(0, len(motion)), len(motion)).double().numpy()
    return face_morph_targets(loaded.body, mesh.vertices, weights, motion.fps)


def export_glb(mesh: AvatarMesh, path: Path, rigged: bool, joint_transforms: np.ndarray | None = None,
               fps: float = 30.0, name: str = "motion", morph: MorphTargets | None = None) -> Path:  # fmt: skip
    anim = JointAnimation(joint_transforms, fps, name) if joint_transforms is not None else None
    return write_glb(path, mesh.rigged(), anim, rigged=rigged or anim is not None, morph=morph)


def export_static(mesh: AvatarMesh, path: Path) -> Path:
    """OBJ or PLY of the canonical mesh with vertex colours."""
    import trimesh

    from dreamavatar.io import atomic_write

    colors = (np.clip(mesh.colors, 0, 1) * 255).astype(np.uint8)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_colors=colors, process=False)
    data = tm.export(file_type=path.suffix[1:])
    return atomic_write(path, lambda f: f.write(data if isinstance(data, bytes) else data.encode()))


def export_sequence(mesh: AvatarMesh, path: Path, joint_transforms: np.ndarray,
                    morph: MorphTargets | None = None) -> list[Path]:  # fmt: skip
    """One OBJ/PLY per frame, the mesh (with the frame's morph weights applied first) posed by linear blend skinning:
    PATH_STEM_0000.ext, ..."""
    paths = []
    for f, T in enumerate(joint_transforms):
        v = mesh.vertices
        if morph is not None and morph.weights is not None:
            v = v + np.einsum("k,kvd->vd", morph.weights[min(f, len(morph.weights) - 1)], morph.offsets)
        posed = AvatarMesh(pose_vertices(v, mesh.weights, T), mesh.faces, mesh.colors, mesh.weights,
                           mesh.joints)  # fmt: skip
        paths.append(export_static(posed, path.with_name(f"{path.stem}_{f:04d}{path.suffix}")))
    return paths
