"""AnnyBody: SMPL poses retargeted onto anny, checked against the SMPL chain's FK and against the mesh itself."""

from __future__ import annotations

import math

import pytest
import roma
import torch

from dreamavatar.body.skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS, a_pose, forward_kinematics, mirror_pose
from renderers.openpose import KEYPOINT_NAMES

KP = {n: i for i, n in enumerate(KEYPOINT_NAMES)}

# Limb bones (joint -> child joint) whose direction is measured from the mesh.
LIMBS = [
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("spine2", "spine3"),
]  # fmt: skip


def _random_poses(n: int, seed: int = 0) -> torch.Tensor:
    """Plausible varied poses: moderate joint rotations, bent elbows and knees, any global rotation."""
    g = torch.Generator().manual_seed(seed)
    pose = (torch.rand(n, NUM_JOINTS, 3, generator=g) * 2 - 1) * 0.5
    pose[:, 0] = (torch.rand(n, 3, generator=g) * 2 - 1) * math.pi  # global orientation anywhere
    bend = torch.rand(n, generator=g) * 2.0
    pose[:, JOINT_INDEX["left_elbow"]] = torch.stack([0 * bend, -bend, 0 * bend], -1)  # elbows bend about y
    pose[:, JOINT_INDEX["right_elbow"]] = torch.stack([0 * bend, bend, 0 * bend], -1)
    pose[:, JOINT_INDEX["left_knee"], 0] = bend  # knees bend about +x
    pose[:, JOINT_INDEX["right_knee"], 0] = bend * 0.5
    return pose


@pytest.fixture(scope="module")
def canonical(anny_body):
    return anny_body.canonical()


@pytest.fixture(scope="module")
def tpose(anny_body):
    return anny_body(torch.zeros(1, NUM_JOINTS, 3))


def test_shapes_and_weights(anny_body, canonical):
    out = anny_body(_random_poses(3), torch.randn(3, 3))
    V = out.vertices.shape[1]
    assert V == anny_body.rest_vertices.shape[0] > 10000
    assert out.vertices.shape == (3, V, 3) and out.vertices.dtype == torch.float32
    assert out.faces.ndim == 2 and out.faces.shape[1] == 3 and out.faces.dtype == torch.long
    assert int(out.faces.min()) == 0 and int(out.faces.max()) == V - 1
    assert out.joints.shape == (3, 24, 3) and out.keypoints.shape == (3, 18, 3)
    assert out.weights.shape == (V, 24) and bool((out.weights >= 0).all())
    torch.testing.assert_close(out.weights.sum(1), torch.ones(V), atol=1e-5, rtol=0)
    assert out.joint_transforms.shape == (3, 24, 4, 4) and out.vertex_transforms.shape == (3, V, 4, 4)
    # every SMPL joint skins some of the body
    assert bool((out.weights.max(0).values > 0.4).all())


def test_vertex_transforms_map_canonical_to_posed(anny_body, canonical):
    out = anny_body(_random_poses(4, seed=1), torch.randn(4, 3))
    can = canonical.vertices[0]
    vt = out.vertex_transforms
    rebuilt = (vt[..., :3, :3] @ can[None, :, :, None]).squeeze(-1) + vt[..., :3, 3]
    torch.testing.assert_close(rebuilt, out.vertices, atol=2e-5, rtol=0)
    # joint transforms take each canonical joint to its posed place
    cj = torch.cat([canonical.joints[0], torch.ones(24, 1)], -1)
    posed_j = (out.joint_transforms @ cj[None, :, :, None]).squeeze(-1)[..., :3]
    torch.testing.assert_close(posed_j, out.joints, atol=2e-5, rtol=0)
    # the canonical body's own transforms are the identity
    eye = torch.eye(4).expand_as(canonical.vertex_transforms[0])
    torch.testing.assert_close(canonical.vertex_transforms[0], eye, atol=1e-5, rtol=0)


def test_t_corrected_rest_is_a_t_pose(anny_body, tpose):
    J = anny_body.rest_joints
    torch.testing.assert_close(tpose.joints[0], J, atol=1e-6, rtol=0)
    targets = {"left_shoulder": (1, 0, 0), "left_elbow": (1, 0, 0), "right_shoulder": (-1, 0, 0),
               "right_elbow": (-1, 0, 0), "left_hip": (0, -1, 0), "left_knee": (0, -1, 0),
               "right_hip": (0, -1, 0), "right_knee": (0, -1, 0), "spine1": (0, 1, 0), "spine2": (0, 1, 0),
               "spine3": (0, 1, 0)}  # fmt: skip
    children = {p: c for c, p in enumerate(PARENTS) if p >= 0 and c not in (13, 14)}  # spine3 -> neck
    for name, target in targets.items():
        j = JOINT_INDEX[name]
        d = J[children[j]] - J[j]
        angle = math.degrees(math.acos(float(torch.dot(d / d.norm(), torch.tensor(target, dtype=d.dtype)))))
        assert angle < (15 if name.startswith("spine") else 1), (name, angle)
    # the mesh itself is straightened: the forearm's and shin's vertices lie along x and y
    for joint, axis in (("left_elbow", 0), ("right_elbow", 0), ("left_knee", 1), ("right_knee", 1)):
        pts = tpose.vertices[0][anny_body.weights[:, JOINT_INDEX[joint]] > 0.95]
        pts = pts - pts.mean(0)
        principal = torch.linalg.svd(pts, full_matrices=False).Vh[0]
        assert abs(float(principal[axis])) > math.cos(math.radians(10)), (joint, principal)


def _segment_rotation(anny_body, out, ref, joint: str) -> torch.Tensor:
    """Rotation B x 3 x 3 of the mesh segment skinned to `joint` from `ref` (B=1) to `out`, by Procrustes."""
    w = anny_body.weights[:, JOINT_INDEX[joint]]
    mask = w > min(0.95, 0.9 * float(w.max()))  # the spine has no vertex skinned to one joint alone
    a = ref.vertices[:, mask].expand(out.vertices.shape[0], -1, -1)
    b = out.vertices[:, mask]
    R, _ = roma.rigid_points_registration(a, b)
    return R


def test_retargeting_direction_error_from_the_mesh(anny_body, tpose):
    """Each limb's direction, measured from its posed vertices, is within 10 degrees of the SMPL chain's FK."""
    poses = _random_poses(16, seed=2)
    out = anny_body(poses)
    J, _ = forward_kinematics(poses, anny_body.rest_joints)
    rest = anny_body.rest_joints
    worst = 0.0
    for joint, child in LIMBS:
        j, c = JOINT_INDEX[joint], JOINT_INDEX[child]
        R = _segment_rotation(anny_body, out, tpose, joint)
        measured = R @ (rest[c] - rest[j])
        expected = J[:, c] - J[:, j]
        cos = torch.nn.functional.cosine_similarity(measured, expected, dim=-1).clamp(-1, 1)
        worst = max(worst, float(torch.rad2deg(torch.acos(cos)).max()))
    assert worst <= 10.0, worst
    # and the joints themselves are that FK
    torch.testing.assert_close(out.joints, J, atol=1e-5, rtol=0)


def test_forearm_roll_turns_the_forearm_about_its_own_axis(anny_body):
    theta = 0.7
    base = torch.zeros(2, NUM_JOINTS, 3)
    base[:, JOINT_INDEX["left_shoulder"]] = torch.tensor([0.3, -0.4, -0.6])  # arm somewhere off the T-pose
    base[1, JOINT_INDEX["left_elbow"], 0] = theta  # roll about the forearm's rest axis (+x for the left arm)
    out = anny_body(base)
    elbow, wrist = out.joints[0, JOINT_INDEX["left_elbow"]], out.joints[0, JOINT_INDEX["left_wrist"]]
    axis = (wrist - elbow) / (wrist - elbow).norm()
    torch.testing.assert_close(out.joints[1, JOINT_INDEX["left_wrist"]], wrist, atol=1e-5, rtol=0)  # pure roll
    mask = anny_body.weights[:, JOINT_INDEX["left_elbow"]] > 0.999
    expected = roma.rotvec_to_rotmat(axis * theta) @ (out.vertices[0, mask] - elbow).T
    torch.testing.assert_close(out.vertices[1, mask] - elbow, expected.T, atol=1e-4, rtol=0)


def test_canonical_a_pose_placement_and_facing(canonical):
    J, K, V = canonical.joints[0], canonical.keypoints[0], canonical.vertices[0]
    assert abs(float(J[0, 1])) < 0.05  # pelvis near y = 0
    height = float(V[:, 1].max() - V[:, 1].min())
    assert 1.6 <= height <= 1.8, height
    for side in ("left", "right"):
        sh, wr = J[JOINT_INDEX[f"{side}_shoulder"]], J[JOINT_INDEX[f"{side}_wrist"]]
        assert wr[1] < sh[1]
        droop = math.degrees(math.atan2(float(sh[1] - wr[1]), abs(float(wr[0] - sh[0]))))
        assert 40 <= droop <= 50, droop
    # faces +z: nose in front of the ears; left is +x for joints and keypoints
    assert K[KP["nose"], 2] > K[KP["left_ear"], 2] + 0.05 and K[KP["nose"], 2] > K[KP["right_ear"], 2] + 0.05
    for name in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "eye", "ear"):
        assert K[KP[f"left_{name}"], 0] > 0.02 > -0.02 > K[KP[f"right_{name}"], 0], name
    assert J[JOINT_INDEX["left_wrist"], 0] > 0.3
    # neck keypoint is the midpoint of the shoulders; keypoints sit near their joints
    torch.testing.assert_close(K[KP["neck"]], (K[KP["left_shoulder"]] + K[KP["right_shoulder"]]) / 2)
    for name in ("elbow", "wrist", "knee", "ankle"):
        assert float((K[KP[f"left_{name}"]] - J[JOINT_INDEX[f"left_{name}"]]).norm()) < 0.06, name


def test_global_orientation_turns_the_body(anny_body):
    pose = a_pose(1)
    pose[0, 0] = torch.tensor([0.0, math.pi / 2, 0.0])
    K = anny_body(pose, torch.tensor([[0.5, 0.2, -1.0]])).keypoints[0]
    ears = (K[KP["left_ear"]] + K[KP["right_ear"]]) / 2
    facing = K[KP["nose"]] - ears
    assert facing[0] > 0.05 and abs(float(facing[2])) < 0.02  # faces +x
    assert K[KP["left_shoulder"], 2] < K[KP["right_shoulder"], 2]  # its left turned to -z
    out = anny_body(a_pose(1))
    rot = roma.rotvec_to_rotmat(pose[0, 0])
    torch.testing.assert_close(
        anny_body(pose, torch.tensor([[0.5, 0.2, -1.0]])).vertices[0],
        out.vertices[0] @ rot.T + torch.tensor([0.5, 0.2, -1.0]), atol=1e-5, rtol=0,
    )  # fmt: skip


def test_mirrored_pose_gives_mirrored_body(anny_body):
    poses = _random_poses(3, seed=5)
    a, b = anny_body(poses), anny_body(mirror_pose(poses))
    flip = torch.tensor([-1.0, 1.0, 1.0])
    from dreamavatar.body.skeleton import MIRROR

    torch.testing.assert_close(b.joints, a.joints[:, list(MIRROR)] * flip, atol=2e-3, rtol=0)


def test_pose_is_differentiable(anny_body):
    pose = _random_poses(1, seed=3).requires_grad_(True)
    out = anny_body(pose)
    (out.vertices.square().sum() + out.keypoints.sum()).backward()
    assert pose.grad is not None and bool(torch.isfinite(pose.grad).all()) and float(pose.grad.abs().sum()) > 0


def test_bad_pose_shape_is_a_user_error(anny_body):
    from dreamavatar.errors import UserError

    with pytest.raises(UserError, match="24 x 3"):
        anny_body(torch.zeros(2, 23, 3))


def test_disk_cache_holds_what_a_fresh_build_computes(anny_body):
    import os

    from dreamavatar.body.anny_body import _build_rig_data, _cache_file

    path = _cache_file((0.5,) * 6)
    if os.access(path.parent.parent, os.W_OK):
        assert path.is_file()  # written by the first build
    fresh = _build_rig_data((0.5,) * 6)
    torch.testing.assert_close(fresh["rest_vertices"], anny_body.rest_vertices)
    torch.testing.assert_close(fresh["canonical_inv"], anny_body._canonical_inv)
    torch.testing.assert_close(fresh["keypoint_weights"], anny_body.keypoint_weights)
    assert torch.equal(fresh["faces"], anny_body.faces)
