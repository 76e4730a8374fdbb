"""SMPLBody on a SYNTHETIC model file (SMPL's layout, random numbers, a plausible skeleton): nothing licensed here."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dreamavatar.body.skeleton import PARENTS, REST_JOINTS, a_pose
from dreamavatar.errors import UserError

V = 6890  # SMPL's topology size, so the face keypoint vertex ids are valid
S = 10
PELVIS = np.array([0.003, -0.22, 0.028])  # SMPL's rest pelvis is not at the origin


def _synthetic_model(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    joints = REST_JOINTS.numpy().astype(np.float64) + PELVIS
    owner = np.arange(V) % 24
    v_template = joints[owner] + rng.normal(scale=0.03, size=(V, 3))
    J_regressor = np.zeros((24, V))
    for j in range(24):
        J_regressor[j, owner == j] = rng.uniform(0.5, 1.0, size=(owner == j).sum())
    J_regressor /= J_regressor.sum(1, keepdims=True)
    weights = np.zeros((V, 24))
    weights[np.arange(V), owner] = 0.7
    parent = np.array([max(p, 0) for p in PARENTS])[owner]
    weights[np.arange(V), parent] += 0.3
    kintree = np.stack([np.array([2**32 - 1] + list(PARENTS[1:])), np.arange(24)]).astype(np.int64)
    return {
        "v_template": v_template,
        "shapedirs": rng.normal(scale=0.01, size=(V, 3, S)),
        "posedirs": rng.normal(scale=0.002, size=(V, 3, 207)),
        "J_regressor": J_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, V, size=(200, 3)).astype(np.int64),
    }


@pytest.fixture(scope="module")
def model_arrays():
    return _synthetic_model()


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory, model_arrays):
    d = tmp_path_factory.mktemp("smpl")
    np.savez(d / "SMPL_NEUTRAL.npz", **model_arrays)
    return d


@pytest.fixture(scope="module")
def smpl_body(smpl_dir):
    from dreamavatar.body import load_body

    return load_body("smpl", smpl_dir=str(smpl_dir))


def _reference_lbs(m: dict, pose: np.ndarray, betas: np.ndarray, transl: np.ndarray):
    """SMPL's formula written out independently in numpy/scipy, for one pose. Returns (vertices, joints)."""
    v_shaped = m["v_template"] + m["shapedirs"] @ betas
    J = m["J_regressor"] @ v_shaped
    R = Rotation.from_rotvec(pose).as_matrix()  # 24 x 3 x 3
    feature = (R[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + np.einsum("vck,k->vc", m["posedirs"], feature)
    G = np.zeros((24, 4, 4))
    for j in range(24):
        local = np.eye(4)
        local[:3, :3] = R[j]
        local[:3, 3] = J[j] - (J[PARENTS[j]] if j else 0)
        G[j] = G[PARENTS[j]] @ local if j else local
    posed_joints = G[:, :3, 3].copy()
    G[:, :3, 3] -= np.einsum("jab,jb->ja", G[:, :3, :3], J)  # rest -> posed
    blend = np.einsum("vj,jab->vab", m["weights"], G)
    verts = np.einsum("vab,vb->va", blend[:, :3, :3], v_posed) + blend[:, :3, 3]
    shift = transl - J[0]  # dreamavatar places the rest pelvis at the origin
    return verts + shift, posed_joints + shift


def test_missing_files_say_where_to_get_them(monkeypatch, tmp_path):
    from dreamavatar.body import load_body

    monkeypatch.delenv("DREAMAVATAR_SMPL_DIR", raising=False)
    with pytest.raises(UserError) as e:
        load_body("smpl")
    msg = str(e.value)
    assert "https://smpl.is.tue.mpg.de" in msg and "DREAMAVATAR_SMPL_DIR" in msg and "--smpl-dir" in msg
    with pytest.raises(UserError, match=str(tmp_path / "nope")):
        load_body("smpl", smpl_dir=str(tmp_path / "nope"))
    monkeypatch.setenv("DREAMAVATAR_SMPL_DIR", str(tmp_path))
    with pytest.raises(UserError, match="SMPL_NEUTRAL.npz"):
        load_body("smpl")
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(b"")
    with pytest.raises(UserError, match="convert"):
        load_body("smpl")


def test_zero_pose_is_the_placed_template(smpl_body, model_arrays):
    out = smpl_body(torch.zeros(2, 24, 3), torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.2, -0.3]]))
    pelvis = model_arrays["J_regressor"][0] @ model_arrays["v_template"]
    expected = torch.as_tensor(model_arrays["v_template"] - pelvis, dtype=torch.float32)
    torch.testing.assert_close(out.vertices[0], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.vertices[1], expected + torch.tensor([0.1, 0.2, -0.3]), atol=1e-5, rtol=0)
    assert float(out.joints[0, 0].abs().max()) < 1e-6  # pelvis at the origin
    torch.testing.assert_close(out.weights.sum(1), torch.ones(V))


def test_joints_and_vertices_match_an_independent_reference(smpl_body, model_arrays):
    rng = np.random.default_rng(1)
    pose = rng.uniform(-0.6, 0.6, size=(3, 24, 3))
    transl = rng.normal(size=(3, 3))
    out = smpl_body(torch.as_tensor(pose, dtype=torch.float32), torch.as_tensor(transl, dtype=torch.float32))
    for b in range(3):
        verts, joints = _reference_lbs(model_arrays, pose[b], np.zeros(S), transl[b])
        np.testing.assert_allclose(out.joints[b].numpy(), joints, atol=1e-5)
        np.testing.assert_allclose(out.vertices[b].numpy(), verts, atol=1e-5)
    # with shape parameters
    betas = rng.normal(size=(1, S))
    out = smpl_body(torch.as_tensor(pose[:1], dtype=torch.float32), shape=torch.as_tensor(betas, dtype=torch.float32))
    verts, joints = _reference_lbs(model_arrays, pose[0], betas[0], np.zeros(3))
    np.testing.assert_allclose(out.joints[0].numpy(), joints, atol=1e-5)
    np.testing.assert_allclose(out.vertices[0].numpy(), verts, atol=1e-5)


def test_transforms_map_canonical_to_posed(smpl_body):
    pose = torch.rand(2, 24, 3) - 0.5
    transl = torch.randn(2, 3)
    for shape in (None, torch.randn(1, S)):
        canonical = smpl_body(a_pose(1), shape=shape)
        out = smpl_body(pose, transl, shape=shape)
        vt = out.vertex_transforms
        rebuilt = (vt[..., :3, :3] @ canonical.vertices[0][None, :, :, None]).squeeze(-1) + vt[..., :3, 3]
        torch.testing.assert_close(rebuilt, out.vertices, atol=5e-5, rtol=0)
        cj = torch.cat([canonical.joints[0], torch.ones(24, 1)], -1)
        posed_j = (out.joint_transforms @ cj[None, :, :, None]).squeeze(-1)[..., :3]
        torch.testing.assert_close(posed_j, out.joints, atol=5e-5, rtol=0)
    # canonical is the A-pose: wrists below shoulders at about 45 degrees
    J = smpl_body.canonical().joints[0]
    drop = math.degrees(math.atan2(float(J[16, 1] - J[20, 1]), float(J[20, 0] - J[16, 0])))
    assert 40 < drop < 50


def test_keypoints(smpl_body):
    out = smpl_body(torch.rand(1, 24, 3) - 0.5)
    K, J, Vt = out.keypoints[0], out.joints[0], out.vertices[0]
    assert K.shape == (18, 3)
    torch.testing.assert_close(K[0], Vt[332])  # nose
    torch.testing.assert_close(K[14], Vt[6260])  # right eye
    torch.testing.assert_close(K[17], Vt[583])  # left ear
    torch.testing.assert_close(K[1], (J[16] + J[17]) / 2)  # neck
    torch.testing.assert_close(K[4], J[21])  # right wrist
    torch.testing.assert_close(K[11], J[1])  # left hip


def test_pkl_conversion_without_chumpy(tmp_path, model_arrays):
    """A .pkl whose arrays are wrapped like chumpy objects and a sparse J_regressor converts to a readable .npz."""
    import sys
    import types

    import scipy.sparse

    class Ch:  # pickles like chumpy.ch.Ch: its __dict__ as the state, the array under "x"
        def __init__(self, x):
            self._dirty_vars = set()
            self.x = x

    fake = types.ModuleType("chumpy.ch")
    fake.Ch = Ch
    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = types.ModuleType("chumpy"), fake
    try:
        data = dict(model_arrays)
        data["shapedirs"] = Ch(model_arrays["shapedirs"])
        data["J_regressor"] = scipy.sparse.csc_matrix(model_arrays["J_regressor"])
        data["posedirs"] = model_arrays["posedirs"].reshape(V * 3, 207)
        (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(data, protocol=2))
    finally:
        del sys.modules["chumpy.ch"], sys.modules["chumpy"]
    from dreamavatar.body.smpl_body import SMPLBody, convert_pkl_to_npz

    convert_pkl_to_npz(tmp_path / "SMPL_NEUTRAL.pkl", tmp_path / "SMPL_NEUTRAL.npz")
    body = SMPLBody(smpl_dir=str(tmp_path))
    pose = torch.rand(1, 24, 3) - 0.5
    verts, _ = _reference_lbs(model_arrays, pose[0].double().numpy(), np.zeros(S), np.zeros(3))
    np.testing.assert_allclose(body(pose).vertices[0].numpy(), verts, atol=1e-5)


def test_matches_smplx_when_installed(tmp_path, model_arrays, smpl_body):
    smplx = pytest.importorskip("smplx")
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(model_arrays))  # plain arrays: no chumpy needed
    ref = smplx.SMPL(str(tmp_path / "SMPL_NEUTRAL.pkl"), num_betas=S)
    pose = torch.rand(2, 24, 3) - 0.5
    betas = torch.randn(2, S) * 0.5
    with torch.no_grad():
        r = ref(global_orient=pose[:, 0], body_pose=pose[:, 1:].reshape(2, -1), betas=betas)
    out = smpl_body(pose, shape=betas)
    shift = r.joints[:, :1] - out.joints[:, :1]  # smplx keeps SMPL's own origin
    torch.testing.assert_close(out.vertices, r.vertices - shift, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.joints, r.joints[:, :24] - shift, atol=1e-4, rtol=0)


def test_real_smpl_model_when_the_user_has_one():
    """Runs only where DREAMAVATAR_SMPL_DIR holds the user's own SMPL_NEUTRAL.npz (never in CI)."""
    import os

    from dreamavatar.body import load_body

    if not os.environ.get("DREAMAVATAR_SMPL_DIR"):
        pytest.skip("no DREAMAVATAR_SMPL_DIR")
    body = load_body("smpl")
    out = body.canonical()
    K, J, Vt = out.keypoints[0], out.joints[0], out.vertices[0]
    assert float(J[0].abs().max()) < 1e-5 and 1.5 < float(Vt[:, 1].max() - Vt[:, 1].min()) < 1.9
    assert K[0, 2] > K[16, 2] + 0.05 and K[0, 2] > K[17, 2] + 0.05  # nose in front of the ears: faces +z
    assert K[15, 0] > 0 > K[14, 0] and J[16, 0] > 0 > J[17, 0]  # left is +x
