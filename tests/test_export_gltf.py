"""Rigged GLB writing: loads in pygltflib and trimesh, 24 joints, weights sum to 1, inverse binds consistent with the
joints, and skinning the exported data reproduces the poses it was written from."""

from __future__ import annotations

import numpy as np
import pygltflib
import pytest
import torch
import trimesh

from dreamavatar.body.skeleton import NUM_JOINTS, a_pose, forward_kinematics
from dreamavatar.export.gltf import JointAnimation, RiggedMesh, read_skin, skin_vertices, write_glb


def _canonical_to_posed(pose: torch.Tensor) -> np.ndarray:
    """Joint transforms canonical (A-pose) -> posed: T_pose @ inv(T_apose). pose: T x 24 x 3 -> T x 24 x 4 x 4."""
    _, Tp = forward_kinematics(pose)
    _, Ta = forward_kinematics(a_pose(1))
    return (Tp @ torch.linalg.inv(Ta)).double().numpy()


@pytest.fixture(scope="module")
def rig():
    rng = np.random.default_rng(0)
    J, _ = forward_kinematics(a_pose(1))
    joints = J[0].double().numpy()
    # a small cloud of vertices around each joint, each skinned to its joint and (half of them) blended with the parent
    V_per = 6
    verts, weights = [], []
    for j in range(NUM_JOINTS):
        for k in range(V_per):
            verts.append(joints[j] + rng.normal(scale=0.03, size=3))
            w = np.zeros(NUM_JOINTS)
            w[j] = 1.0
            if k % 2 and j > 0:
                w[j], w[[0, 3, 6][j % 3]] = 0.6, 0.4  # two influences
            weights.append(w / w.sum())
    verts = np.array(verts)
    faces = np.array([[i, i + 1, i + 2] for i in range(0, len(verts) - 2, 3)])
    colors = rng.uniform(size=verts.shape)
    return RiggedMesh(verts, faces, colors, joints, np.array(weights))


def test_glb_loads_with_skeleton_and_consistent_bind(rig, tmp_path):
    path = write_glb(tmp_path / "a.glb", rig)
    doc = pygltflib.GLTF2().load(str(path))
    assert len(doc.skins) == 1 and len(doc.skins[0].joints) == 24
    scene = trimesh.load(str(path))
    geom = next(iter(scene.geometry.values())) if hasattr(scene, "geometry") else scene
    assert len(geom.vertices) == len(rig.vertices) and len(geom.faces) == len(rig.faces)
    data = read_skin(path)
    np.testing.assert_allclose(data["weights"].sum(1), 1.0, atol=1e-6)
    # inverse bind matrix of each joint inverts that joint node's rest world transform
    np.testing.assert_allclose(data["inverse_bind"] @ data["rest_world"], np.tile(np.eye(4), (24, 1, 1)), atol=1e-5)
    np.testing.assert_allclose(data["rest_world"][:, :3, 3], rig.joints, atol=1e-5)
    # in the bind pose, skinning is the identity
    np.testing.assert_allclose(skin_vertices(data, data["rest_world"]), rig.vertices, atol=1e-5)


def test_embedded_animation_reproduces_linear_blend_skinning(rig, tmp_path):
    g = torch.Generator().manual_seed(1)
    poses = (torch.rand(5, 24, 3, generator=g) - 0.5) * 1.2
    A = _canonical_to_posed(poses)  # 5 x 24 x 4 x 4
    path = write_glb(tmp_path / "m.glb", rig, JointAnimation(A, fps=30.0))
    data = read_skin(path)
    assert data["anim_world"].shape == (5, 24, 4, 4)
    P = np.concatenate([rig.vertices, np.ones((len(rig.vertices), 1))], 1)
    for f in range(5):
        expected = np.einsum("vab,vb->va", np.einsum("vj,jab->vab", rig.weights, A[f]), P)[:, :3]
        np.testing.assert_allclose(skin_vertices(data, data["anim_world"][f]), expected, atol=1e-4)


def test_unrigged_glb_has_no_skin(rig, tmp_path):
    doc = pygltflib.GLTF2().load(str(write_glb(tmp_path / "s.glb", rig, rigged=False)))
    assert not doc.skins and len(doc.meshes) == 1
