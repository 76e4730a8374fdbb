"""The Motion type and the motion file loaders, on synthetic files written here."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from dreamavatar.body.skeleton import JOINT_INDEX, REST_JOINTS, forward_kinematics
from dreamavatar.errors import UserError
from dreamavatar.motion import Motion, load_motion
from dreamavatar.motion.ground import FLOOR_Y, lowest_point

SHARED_AIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "motions" / "aist_dance_smplx265.npy"


def _random_motion(frames: int = 31, fps: float = 30.0, seed: int = 0) -> Motion:
    g = torch.Generator().manual_seed(seed)
    poses = (torch.rand(frames, 24, 3, generator=g) - 0.5) * 0.6
    transl = torch.randn(frames, 3, generator=g) * 0.1
    return Motion(poses, transl, fps, "rand")


def _rotmat(rotvec) -> torch.Tensor:
    return roma.rotvec_to_rotmat(torch.as_tensor(rotvec, dtype=torch.float64))


def _same_rotation(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-4) -> bool:
    return torch.allclose(_rotmat(a.double()), _rotmat(b.double()), atol=atol)


# ---------------------------------------------------------------- Motion


def test_motion_casts_and_validates():
    m = Motion(np.zeros((4, 72)), np.zeros((4, 3)), 24, "x")
    assert m.poses.shape == (4, 24, 3) and m.poses.dtype == torch.float32 and m.transl.dtype == torch.float32
    assert len(m) == 4 and m.duration == pytest.approx(3 / 24)
    with pytest.raises(ValueError):
        Motion(torch.zeros(4, 24, 3), torch.zeros(5, 3))


def test_resample_keeps_shared_instants_and_counts_frames():
    m = _random_motion(31, 30.0)
    up = m.resample(60)
    assert len(up) == 61 and up.fps == 60
    assert _same_rotation(up.poses[::2], m.poses) and torch.allclose(up.transl[::2], m.transl, atol=1e-6)
    down = m.resample(15)
    assert len(down) == 16
    assert _same_rotation(down.poses, m.poses[::2]) and torch.allclose(down.transl, m.transl[::2], atol=1e-6)
    assert len(m.resample(24)) == 25  # 1 s at 24 fps


def test_resample_slerps_rotations_and_lerps_translation():
    poses = torch.zeros(2, 24, 3)
    poses[1, 5] = torch.tensor([0.0, 0.0, math.pi / 2])  # 90 degrees about z over one frame
    transl = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    mid = Motion(poses, transl, 10).resample(20)
    assert len(mid) == 3
    assert torch.allclose(mid.poses[1, 5], torch.tensor([0.0, 0.0, math.pi / 4]), atol=1e-5)
    assert torch.allclose(mid.transl[1], torch.tensor([0.5, 1.0, 1.5]))


RANGES = [("0:16", range(0, 16)), ("10:", range(10, 31)), (":-5", range(0, 26)), ("-3:", range(28, 31)),
          (":", range(31)), (" 2 : 4 ", range(2, 4))]  # fmt: skip


@pytest.mark.parametrize("spec, expected", RANGES)
def test_frame_ranges_are_python_slices(spec, expected):
    m = _random_motion(31)
    sub = m.frames(spec)
    assert len(sub) == len(expected)
    assert torch.equal(sub.poses, m.poses[expected.start : expected.stop])
    assert torch.equal(sub.transl, m.transl[expected.start : expected.stop])


@pytest.mark.parametrize("spec", ["a:b", "5", "1:2:3", "", "1.5:3"])
def test_bad_frame_range_names_the_syntax(spec):
    with pytest.raises(UserError, match="A:B"):
        _random_motion().frames(spec)


def test_empty_frame_range_is_refused():
    with pytest.raises(UserError, match="no frame.*31 frames"):
        _random_motion(31).frames("40:50")
    with pytest.raises(UserError, match="no frame"):
        _random_motion(31).slice(5, 5)


def test_project_npz_round_trip(tmp_path):
    m = _random_motion(12, 25.0)
    path = m.save(tmp_path / "sub" / "clip.npz")
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    back = load_motion(str(path))
    assert back.name == "rand" and back.fps == 25.0 and len(back) == 12
    assert torch.equal(back.poses, m.poses) and torch.equal(back.transl, m.transl)


# ---------------------------------------------------------------- AMASS


def _amass_file(tmp_path, columns=156, rate_key="mocap_framerate", frames=10):
    rng = np.random.default_rng(1)
    poses = rng.uniform(-0.3, 0.3, (frames, columns))
    poses[:, :3] = [math.pi / 2, 0, 0]  # an upright body in AMASS's z-up world: y-up SMPL turned +90 about x
    trans = np.zeros((frames, 3))
    trans[:, 0] = 2.0 + np.linspace(0, 0.5, frames)  # walks along x
    trans[:, 1] = 3.0 + np.linspace(0, 0.2, frames)  # and along AMASS's y (horizontal)
    trans[:, 2] = 0.9 + 0.3 * np.sin(np.linspace(0, math.pi, frames))  # hops up along z
    path = tmp_path / "clip_poses.npz"
    np.savez(path, poses=poses, trans=trans, betas=np.zeros(16), gender="neutral", **{rate_key: np.array(120.0)})
    return path, poses, trans


@pytest.mark.parametrize(
    "columns, rate_key", [(156, "mocap_framerate"), (165, "mocap_frame_rate"), (72, "mocap_framerate")]
)
def test_amass_npz_turns_z_up_into_y_up(tmp_path, columns, rate_key):
    path, poses, trans = _amass_file(tmp_path, columns, rate_key)
    m = load_motion(str(path))
    assert m.fps == 120.0 and len(m) == 10 and m.name == "clip_poses"
    # The upright AMASS body stands upright (identity orientation) in the y-up world.
    assert torch.allclose(m.poses[:, 0], torch.zeros(10, 3), atol=1e-5)
    body = 72 if columns == 72 else 66
    flat = m.poses.reshape(10, 72)
    assert torch.allclose(flat[:, 3:body], torch.from_numpy(poses[:, 3:body]).float(), atol=1e-6)
    assert torch.all(flat[:, body:] == 0)
    # Translation: AMASS (x, y, z) -> (x, z, -y); x and z relative to frame 0; the hop (AMASS z) is world y.
    d = m.transl - m.transl[0]
    assert torch.allclose(m.transl[0, [0, 2]], torch.zeros(2), atol=1e-6)
    assert torch.allclose(d[:, 0], torch.from_numpy(trans[:, 0] - trans[0, 0]).float(), atol=1e-5)
    assert torch.allclose(d[:, 2], -torch.from_numpy(trans[:, 1] - trans[0, 1]).float(), atol=1e-5)
    assert torch.allclose(d[:, 1], torch.from_numpy(trans[:, 2] - trans[0, 2]).float(), atol=1e-5)
    assert float(lowest_point(m.poses, m.transl).min()) == pytest.approx(FLOOR_Y, abs=1e-5)


def test_amass_orientation_matches_a_rotated_world(tmp_path):
    """FK of the loaded motion equals the AMASS body's FK turned -90 degrees about x (up to translation)."""
    path, poses, _ = _amass_file(tmp_path)
    poses[:, :3] = np.random.default_rng(2).uniform(-1, 1, (10, 3))
    np.savez(path, poses=poses, trans=np.zeros((10, 3)), mocap_framerate=60.0)
    m = load_motion(str(path))
    raw = torch.zeros(10, 24, 3, dtype=torch.float64)
    raw.view(10, 72)[:, :66] = torch.from_numpy(poses[:, :66])
    J_amass, _ = forward_kinematics(raw)
    Rx = _rotmat([-math.pi / 2, 0, 0])
    expected = (J_amass - J_amass[:, :1]) @ Rx.T
    J, _ = forward_kinematics(m.poses.double())
    assert torch.allclose(J - J[:, :1], expected, atol=1e-5)


# ---------------------------------------------------------------- AIST++


def test_aist_pkl_divides_translation_by_scaling(tmp_path):
    rng = np.random.default_rng(3)
    poses = rng.uniform(-0.3, 0.3, (8, 72)).astype(np.float32)
    trans = np.cumsum(rng.normal(0, 5, (8, 3)), 0) + [10, 90, -20]
    path = tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl"
    with open(path, "wb") as f:
        pickle.dump({"smpl_loss": 0.1, "smpl_poses": poses, "smpl_scaling": np.array([93.5]), "smpl_trans": trans}, f)
    m = load_motion(str(path))
    assert m.fps == 60.0 and len(m) == 8
    assert torch.allclose(m.poses.reshape(8, 72), torch.from_numpy(poses), atol=1e-6)
    expected = torch.from_numpy((trans - trans[0]) / 93.5).float()
    assert torch.allclose(m.transl - m.transl[0], expected, atol=1e-5)
    assert torch.allclose(m.transl[0, [0, 2]], torch.zeros(2))


def test_pkl_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"smpl_poses": Path("x")}, f)  # any non-array class must not be unpickled
    with pytest.raises(UserError, match="evil.pkl"):
        load_motion(str(path))


# ---------------------------------------------------------------- SMPL-X 265


def _smplx_array(frames=6, seed=4):
    a = np.zeros((frames, 265))
    rng = np.random.default_rng(seed)
    a[:, 9:12] = rng.uniform(-0.2, 0.2, (frames, 3))
    a[:, 12:75] = rng.uniform(-0.4, 0.4, (frames, 63))
    a[:, 0:3] = 0.3  # jaw: ignored
    a[:, 75:165] = 0.5  # hands: ignored
    return a


def test_smplx_265_npy_columns_fps_and_grounding(tmp_path):
    a = _smplx_array()
    path = tmp_path / "dance.npy"
    np.save(path, a)
    m = load_motion(str(path))
    assert m.fps == 30.0 and len(m) == 6 and m.name == "dance"
    assert torch.allclose(m.poses[:, 0], torch.from_numpy(a[:, 9:12]).float())
    assert torch.allclose(m.poses[:, 1:22].reshape(6, 63), torch.from_numpy(a[:, 12:75]).float())
    assert torch.all(m.poses[:, 22:] == 0)
    assert torch.all(m.transl[:, [0, 2]] == 0)
    # No recorded translation: each frame stands on the floor.
    assert torch.allclose(lowest_point(m.poses, m.transl), torch.full((6,), FLOOR_Y), atol=1e-5)
    assert load_motion(str(path), fps=24).fps == 24.0


@pytest.mark.skipif(not SHARED_AIST.is_file(), reason="shared AIST clip not present")
def test_shared_aist_clip_loads():
    m = load_motion(str(SHARED_AIST))
    assert len(m) == 240 and m.fps == 30.0
    assert torch.isfinite(m.poses).all() and torch.isfinite(m.transl).all()
    J = m.joints()
    assert float((J[:, JOINT_INDEX["head"], 1] - J[:, 0, 1]).mean()) > 0.4  # upright in the y-up world


# ---------------------------------------------------------------- errors


def test_missing_file_and_unknown_name():
    with pytest.raises(UserError, match="neither a built-in.*dreamavatar motions"):
        load_motion("/nonexistent/moves.npz")


def test_unknown_format(tmp_path):
    p = tmp_path / "moves.txt"
    p.write_text("hello")
    with pytest.raises(UserError, match=r"moves.txt.*unknown format"):
        load_motion(str(p))


@pytest.mark.parametrize(
    "name, array, words",
    [
        ("short.npy", np.zeros((5, 100)), r"short.npy.*\(5, 100\).*265"),
        ("flat.npy", np.zeros(265), r"flat.npy.*265"),
    ],
)
def test_wrong_shape_npy(tmp_path, name, array, words):
    np.save(tmp_path / name, array)
    with pytest.raises(UserError, match=words):
        load_motion(str(tmp_path / name))


def test_wrong_shape_and_keys_npz(tmp_path):
    np.savez(tmp_path / "a.npz", poses=np.zeros((5, 30)), trans=np.zeros((5, 3)), mocap_framerate=30.0)
    with pytest.raises(UserError, match=r"a.npz.*30 columns.*66"):
        load_motion(str(tmp_path / "a.npz"))
    np.savez(tmp_path / "b.npz", poses=np.zeros((5, 72)), trans=np.zeros((4, 3)), mocap_framerate=30.0)
    with pytest.raises(UserError, match=r"b.npz.*trans.*\(4, 3\).*5 x 3"):
        load_motion(str(tmp_path / "b.npz"))
    np.savez(tmp_path / "c.npz", foo=np.zeros(3))
    with pytest.raises(UserError, match=r"c.npz.*keys \['foo'\].*AMASS"):
        load_motion(str(tmp_path / "c.npz"))
    (tmp_path / "d.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match=r"d.npz.*not a readable npz"):
        load_motion(str(tmp_path / "d.npz"))


@pytest.mark.parametrize("fmt", ["npy", "npz", "pkl"])
def test_nan_is_refused(tmp_path, fmt):
    if fmt == "npy":
        a = _smplx_array()
        a[2, 20] = np.nan
        np.save(tmp_path / "x.npy", a)
    elif fmt == "npz":
        np.savez(tmp_path / "x.npz", poses=np.zeros((3, 72)), trans=np.full((3, 3), np.nan), mocap_framerate=30.0)
    else:
        with open(tmp_path / "x.pkl", "wb") as f:
            data = {"smpl_poses": np.full((3, 72), np.nan), "smpl_trans": np.zeros((3, 3)), "smpl_scaling": 1.0}
            pickle.dump(data, f)
    with pytest.raises(UserError, match=rf"x.{fmt}.*NaN"):
        load_motion(str(tmp_path / f"x.{fmt}"))


# ---------------------------------------------------------------- BVH

# Skeletons whose mapped joints sit at REST_JOINTS (in cm), each in one naming scheme, with the scheme's extra joints.
_BVH_TREES = {  # scheme -> [(name, parent name, SMPL joint whose rest position it takes, or None for an extra joint)]
    "cmu": [
        ("Hips", None, "pelvis"),
        ("LHipJoint", "Hips", None), ("LeftUpLeg", "LHipJoint", "left_hip"), ("LeftLeg", "LeftUpLeg", "left_knee"),
        ("LeftFoot", "LeftLeg", "left_ankle"), ("LeftToeBase", "LeftFoot", "left_foot"),
        ("RHipJoint", "Hips", None), ("RightUpLeg", "RHipJoint", "right_hip"),
        ("RightLeg", "RightUpLeg", "right_knee"), ("RightFoot", "RightLeg", "right_ankle"),
        ("RightToeBase", "RightFoot", "right_foot"),
        ("LowerBack", "Hips", "spine1"), ("Spine", "LowerBack", "spine2"), ("Spine1", "Spine", "spine3"),
        ("Neck", "Spine1", "neck"), ("Neck1", "Neck", None), ("Head", "Neck1", "head"),
        ("LeftShoulder", "Spine1", "left_collar"), ("LeftArm", "LeftShoulder", "left_shoulder"),
        ("LeftForeArm", "LeftArm", "left_elbow"), ("LeftHand", "LeftForeArm", "left_wrist"),
        ("LeftFingerBase", "LeftHand", "left_hand"),
        ("RightShoulder", "Spine1", "right_collar"), ("RightArm", "RightShoulder", "right_shoulder"),
        ("RightForeArm", "RightArm", "right_elbow"), ("RightHand", "RightForeArm", "right_wrist"),
        ("RightFingerBase", "RightHand", "right_hand"),
    ],
    # Biovision / MotionBuilder: LeftShoulder is the upper arm, LeftCollar the collar bone.
    "biovision": [
        ("Hips", None, "pelvis"),
        ("LeftHip", "Hips", "left_hip"), ("LeftKnee", "LeftHip", "left_knee"), ("LeftAnkle", "LeftKnee", "left_ankle"),
        ("RightHip", "Hips", "right_hip"), ("RightKnee", "RightHip", "right_knee"),
        ("RightAnkle", "RightKnee", "right_ankle"),
        ("Chest", "Hips", "spine1"), ("Chest2", "Chest", "spine3"), ("Neck", "Chest2", "neck"), ("Head", "Neck", "head"),
        ("LeftCollar", "Chest2", "left_collar"), ("LeftShoulder", "LeftCollar", "left_shoulder"),
        ("LeftElbow", "LeftShoulder", "left_elbow"), ("LeftWrist", "LeftElbow", "left_wrist"),
        ("RightCollar", "Chest2", "right_collar"), ("RightShoulder", "RightCollar", "right_shoulder"),
        ("RightElbow", "RightShoulder", "right_elbow"), ("RightWrist", "RightElbow", "right_wrist"),
    ],
    "mixamo": [
        ("mixamorig:Hips", None, "pelvis"),
        ("mixamorig:LeftUpLeg", "mixamorig:Hips", "left_hip"), ("mixamorig:LeftLeg", "mixamorig:LeftUpLeg", "left_knee"),
        ("mixamorig:LeftFoot", "mixamorig:LeftLeg", "left_ankle"),
        ("mixamorig:RightUpLeg", "mixamorig:Hips", "right_hip"),
        ("mixamorig:RightLeg", "mixamorig:RightUpLeg", "right_knee"),
        ("mixamorig:RightFoot", "mixamorig:RightLeg", "right_ankle"),
        ("mixamorig:Spine", "mixamorig:Hips", "spine1"), ("mixamorig:Spine1", "mixamorig:Spine", "spine2"),
        ("mixamorig:Spine2", "mixamorig:Spine1", "spine3"), ("mixamorig:Neck", "mixamorig:Spine2", "neck"),
        ("mixamorig:Head", "mixamorig:Neck", "head"),
        ("mixamorig:LeftShoulder", "mixamorig:Spine2", "left_collar"),
        ("mixamorig:LeftArm", "mixamorig:LeftShoulder", "left_shoulder"),
        ("mixamorig:LeftForeArm", "mixamorig:LeftArm", "left_elbow"),
        ("mixamorig:LeftHand", "mixamorig:LeftForeArm", "left_wrist"),
        ("mixamorig:RightShoulder", "mixamorig:Spine2", "right_collar"),
        ("mixamorig:RightArm", "mixamorig:RightShoulder", "right_shoulder"),
        ("mixamorig:RightForeArm", "mixamorig:RightArm", "right_elbow"),
        ("mixamorig:RightHand", "mixamorig:RightForeArm", "right_wrist"),
    ],
    # 3ds Max Biped: names with spaces, the side as " L " / " R ".
    "biped": [
        ("Bip01", None, None), ("Bip01 Pelvis", "Bip01", "pelvis"),
        ("Bip01 L Thigh", "Bip01 Pelvis", "left_hip"), ("Bip01 L Calf", "Bip01 L Thigh", "left_knee"),
        ("Bip01 L Foot", "Bip01 L Calf", "left_ankle"), ("Bip01 L Toe0", "Bip01 L Foot", "left_foot"),
        ("Bip01 R Thigh", "Bip01 Pelvis", "right_hip"), ("Bip01 R Calf", "Bip01 R Thigh", "right_knee"),
        ("Bip01 R Foot", "Bip01 R Calf", "right_ankle"), ("Bip01 R Toe0", "Bip01 R Foot", "right_foot"),
        ("Bip01 Spine", "Bip01 Pelvis", "spine1"), ("Bip01 Spine1", "Bip01 Spine", "spine2"),
        ("Bip01 Spine2", "Bip01 Spine1", "spine3"), ("Bip01 Neck", "Bip01 Spine2", "neck"),
        ("Bip01 Head", "Bip01 Neck", "head"),
        ("Bip01 L Clavicle", "Bip01 Neck", "left_collar"), ("Bip01 L UpperArm", "Bip01 L Clavicle", "left_shoulder"),
        ("Bip01 L Forearm", "Bip01 L UpperArm", "left_elbow"), ("Bip01 L Hand", "Bip01 L Forearm", "left_wrist"),
        ("Bip01 R Clavicle", "Bip01 Neck", "right_collar"), ("Bip01 R UpperArm", "Bip01 R Clavicle", "right_shoulder"),
        ("Bip01 R Forearm", "Bip01 R UpperArm", "right_elbow"), ("Bip01 R Hand", "Bip01 R Forearm", "right_wrist"),
    ],
    # Unreal's mannequin: a root on the floor above which the pelvis moves.
    "unreal": [
        ("root", None, None), ("pelvis", "root", "pelvis"),
        ("thigh_l", "pelvis", "left_hip"), ("calf_l", "thigh_l", "left_knee"), ("foot_l", "calf_l", "left_ankle"),
        ("ball_l", "foot_l", "left_foot"),
        ("thigh_r", "pelvis", "right_hip"), ("calf_r", "thigh_r", "right_knee"), ("foot_r", "calf_r", "right_ankle"),
        ("ball_r", "foot_r", "right_foot"),
        ("spine_01", "pelvis", "spine1"), ("spine_02", "spine_01", "spine2"), ("spine_03", "spine_02", "spine3"),
        ("neck_01", "spine_03", "neck"), ("head", "neck_01", "head"),
        ("clavicle_l", "spine_03", "left_collar"), ("upperarm_l", "clavicle_l", "left_shoulder"),
        ("lowerarm_l", "upperarm_l", "left_elbow"), ("hand_l", "lowerarm_l", "left_wrist"),
        ("middle_01_l", "hand_l", "left_hand"),
        ("clavicle_r", "spine_03", "right_collar"), ("upperarm_r", "clavicle_r", "right_shoulder"),
        ("lowerarm_r", "upperarm_r", "right_elbow"), ("hand_r", "lowerarm_r", "right_wrist"),
        ("middle_01_r", "hand_r", "right_hand"),
    ],
}  # fmt: skip
_BVH_TREE = _BVH_TREES["cmu"]
_EXTRA_POS = {"LHipJoint": (0.04, -0.03, 0.0), "RHipJoint": (-0.04, -0.03, 0.0), "Neck1": (0.0, 0.04, 0.01),
              "root": (0.0, -0.94, 0.0), "Bip01": (0.0, 0.0, 0.0)}  # fmt: skip


def _bvh_rest(to_file: np.ndarray, units: float, tree=_BVH_TREE) -> dict[str, np.ndarray]:
    rest = {}
    for name, _, smpl in tree:
        p = REST_JOINTS[JOINT_INDEX[smpl]].double().numpy() if smpl else np.array(_EXTRA_POS[name])
        rest[name] = to_file @ p * units
    return rest


def _write_bvh(path, to_file: np.ndarray, units: float, angles: dict[str, np.ndarray], root_pos: np.ndarray, order,
               tree=_BVH_TREE, frame_time: str = "0.0083333"):  # fmt: skip
    """Write a BVH; angles: joint -> F x 3 degrees in channel `order` (e.g. "ZXY"); root_pos: F x 3 file units."""
    rest = _bvh_rest(to_file, units, tree)
    parents = {n: p for n, p, _ in tree}
    children = {n: [c for c, p, _ in tree if p == n] for n, _, _ in tree}
    rot_ch = " ".join(f"{a}rotation" for a in order)
    lines, cols = ["HIERARCHY"], []

    def emit(name, depth):
        ind = "  " * depth
        off = rest[name] - (rest[parents[name]] if parents[name] else 0)
        lines.append(f"{ind}{'ROOT' if parents[name] is None else 'JOINT'} {name}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        if parents[name] is None:
            lines.append(f"{ind}  CHANNELS 6 Xposition Yposition Zposition {rot_ch}")
            cols.append(root_pos)
        else:
            lines.append(f"{ind}  CHANNELS 3 {rot_ch}")
        cols.append(angles.get(name, np.zeros((len(root_pos), 3))))
        for c in children[name]:
            emit(c, depth + 1)
        if not children[name]:
            end = f"{ind}    OFFSET 0.0 {units * 0.05:.4f} 0.0"
            lines.extend([f"{ind}  End Site", f"{ind}  {{", end, f"{ind}  }}"])
        lines.append(f"{ind}}}")

    emit(tree[0][0], 0)
    values = np.concatenate(cols, 1)
    lines += ["MOTION", f"Frames: {len(values)}", f"Frame Time: {frame_time}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    Path(path).write_text("\n".join(lines) + "\n")
    return rest


def _bvh_fk(rest, angles, root_pos, order, frames, tree=_BVH_TREE):
    """Independent BVH forward kinematics with scipy's intrinsic Euler angles: joint -> F x 3 positions."""
    from scipy.spatial.transform import Rotation

    rots, pos = {}, {}
    for name, parent, _ in tree:
        local = Rotation.from_euler(order.upper(), angles.get(name, np.zeros((frames, 3))), degrees=True).as_matrix()
        if parent is None:
            rots[name], pos[name] = local, root_pos + rest[name]
        else:
            rots[name] = rots[parent] @ local
            pos[name] = pos[parent] + (rots[parent] @ (rest[name] - rest[parent]))
    return pos


@pytest.mark.parametrize("scheme, up", [("cmu", "y"), ("cmu", "z"), ("biovision", "y"), ("mixamo", "z"),
                                        ("unreal", "z"), ("biped", "z")])  # fmt: skip
def test_bvh_joint_positions_match_the_files_own_kinematics(tmp_path, scheme, up, caplog):
    tree = _BVH_TREES[scheme]
    frames, units, order = 5, 100.0, "ZXY"
    to_file = np.eye(3) if up == "y" else np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # world -> file axes
    rng = np.random.default_rng(5)
    # Biped hangs the clavicles off the neck, SMPL off the spine: a turning neck would move them differently
    still = {"Bip01 Neck"} if scheme == "biped" else set()
    driven = [n for n, _, s in tree if s and s not in ("left_foot", "right_foot") and n not in still]
    angles = {n: rng.uniform(-35, 35, (frames, 3)) for n in driven}
    root = rng.uniform(-50, 50, (frames, 3))
    path = tmp_path / "take.bvh"
    rest = _write_bvh(path, to_file, units, angles, root, order, tree)
    with caplog.at_level("WARNING"):
        m = load_motion(str(path))
    assert not caplog.records, "every core joint is mapped"
    assert len(m) == frames and m.fps == 120 and m.name == "take"
    ref = _bvh_fk(rest, angles, root, order, frames, tree)
    J, _ = forward_kinematics(m.poses.double(), transl=m.transl.double())
    pelvis = next(n for n, _, s in tree if s == "pelvis")
    for name, _, smpl in tree:
        if smpl is None:
            continue
        expected = (ref[name] - ref[pelvis]) @ to_file / units  # file units and axes -> metres, world axes
        got = (J[:, JOINT_INDEX[smpl]] - J[:, 0]).numpy()
        np.testing.assert_allclose(got, expected, atol=2e-4, err_msg=name)
    # Root path in metres: relative x/z, vertical motion kept.
    path_m = (ref[pelvis] - ref[pelvis][0]) @ to_file / units
    np.testing.assert_allclose((m.transl - m.transl[0]).numpy(), path_m, atol=1e-5)
    assert np.allclose(m.transl[0, [0, 2]].numpy(), 0)


def test_biovision_arms_hang_instead_of_folding(tmp_path):
    """Biovision names the upper arm LeftShoulder and the collar LeftCollar: a clip that lowers the arms from the
    T-pose rest (80 degrees about z at the shoulders) must give arms hanging beside the body."""
    tree = _BVH_TREES["biovision"]
    angles = {"LeftShoulder": np.array([[0.0, 0, 0], [-80.0, 0, 0]]), "RightShoulder": np.array([[0.0, 0, 0], [80.0, 0, 0]])}
    _write_bvh(tmp_path / "bio.bvh", np.eye(3), 100.0, angles, np.zeros((2, 3)), "ZXY", tree, "0.0333333")
    m = load_motion(str(tmp_path / "bio.bvh"))
    assert m.fps == 30.0
    J = m.joints()[1]
    for side in ("left", "right"):
        shoulder, elbow, wrist = (J[JOINT_INDEX[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist"))
        upper = elbow - shoulder
        assert float(upper[1]) < -0.9 * float(upper.norm())  # the upper arm points down (80 degrees below level)
        assert float(wrist[1]) < float(shoulder[1]) - 0.45  # the hand hangs half a metre below the shoulder
        assert abs(float(wrist[0] - shoulder[0])) < 0.15  # beside the body, not out to the side or up by the head
    J0 = m.joints()[0]
    np.testing.assert_allclose(J0[JOINT_INDEX["left_wrist"], 1], J0[JOINT_INDEX["left_shoulder"], 1], atol=1e-4)


def test_bvh_warns_when_a_core_joint_stays_unmapped(tmp_path, caplog):
    tree = [t for t in _BVH_TREES["biovision"] if "Elbow" not in t[0] and "Wrist" not in t[0]]
    _write_bvh(tmp_path / "noelbow.bvh", np.eye(3), 100.0, {}, np.zeros((1, 3)), "ZXY", tree, "0.033367")
    with caplog.at_level("WARNING"):
        m = load_motion(str(tmp_path / "noelbow.bvh"))
    assert m.fps == pytest.approx(30000 / 1001, abs=1e-12)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "left_elbow" in text and "right_elbow" in text and "LeftShoulder" in text


@pytest.mark.parametrize("written, fps", [("0.0333333", 30.0), ("0.033333", 30.0), ("0.04", 25.0), ("0.0166667", 60.0),
                                          ("0.00833333", 120.0), ("0.0333667", 30000 / 1001), ("0.1", 10.0),
                                          ("0.0123", 1 / 0.0123)])  # fmt: skip
def test_bvh_frame_rates_are_exact(written, fps):
    from dreamavatar.motion.bvh import exact_rate

    assert exact_rate(written) == pytest.approx(fps, rel=1e-12)


def test_bvh_simple_bend_gives_the_expected_smpl_rotation(tmp_path):
    angles = {"LeftLeg": np.array([[0.0, 0.0, 0.0], [0.0, 90.0, 0.0]])}  # ZXY order: X is the middle column
    _write_bvh(tmp_path / "knee.bvh", np.eye(3), 100.0, angles, np.zeros((2, 3)), "ZXY")
    m = load_motion(str(tmp_path / "knee.bvh"))
    expected = torch.zeros(2, 24, 3)
    expected[1, JOINT_INDEX["left_knee"]] = torch.tensor([math.pi / 2, 0, 0])
    assert torch.allclose(m.poses, expected, atol=1e-5)


def test_bvh_in_an_a_pose_rest_is_corrected(tmp_path):
    """A file whose rest arms hang 45 degrees down, with zero channels, is the A-pose on SMPL's T-pose skeleton."""
    text = _bvh_text_a_pose()
    (tmp_path / "apose.bvh").write_text(text)
    m = load_motion(str(tmp_path / "apose.bvh"))
    J = m.joints()[0]
    arm = J[JOINT_INDEX["left_elbow"]] - J[JOINT_INDEX["left_shoulder"]]
    assert float(arm[1] / arm[0]) == pytest.approx(-1.0, abs=1e-3)  # 45 degrees down, out to the left
    forearm = J[JOINT_INDEX["left_wrist"]] - J[JOINT_INDEX["left_elbow"]]
    assert torch.allclose(forearm / forearm.norm(), arm / arm.norm(), atol=1e-4)


def _bvh_text_a_pose() -> str:
    s = 1 / math.sqrt(2)
    arm = lambda sign: f"""
    JOINT {'Left' if sign > 0 else 'Right'}Arm
    {{
      OFFSET {sign * 10:.3f} 44 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT {'Left' if sign > 0 else 'Right'}ForeArm
      {{
        OFFSET {sign * 26 * s:.4f} {-26 * s:.4f} 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT {'Left' if sign > 0 else 'Right'}Hand
        {{
          OFFSET {sign * 25 * s:.4f} {-25 * s:.4f} 0
          CHANNELS 3 Zrotation Xrotation Yrotation
          End Site
          {{
            OFFSET 5 0 0
          }}
        }}
      }}
    }}"""
    leg = lambda sign: f"""
    JOINT {'Left' if sign > 0 else 'Right'}UpLeg
    {{
      OFFSET {sign * 9} -8 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT {'Left' if sign > 0 else 'Right'}Leg
      {{
        OFFSET 1 -40 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {{
          OFFSET 0 -40 0
        }}
      }}
    }}"""
    return f"""HIERARCHY
ROOT Hips
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  {leg(1)}
  {leg(-1)}
  JOINT Head
  {{
    OFFSET 0 58 3
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {{
      OFFSET 0 10 0
    }}
  }}
  {arm(1)}
  {arm(-1)}
}}
MOTION
Frames: 1
Frame Time: 0.033333
""" + " ".join(["0"] * (6 + 3 * 11)) + "\n"


@pytest.mark.parametrize(
    "text, words",
    [
        ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Wrotation Xrotation Yrotation\n}\nMOTION\n", "channel"),
        ("hello", "HIERARCHY"),
        ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n}\nMOTION\n"
         "Frames: 2\nFrame Time: 0.1\n0 0 0\n", "3 values for 2 frames"),
    ],
)
def test_bad_bvh_is_refused(tmp_path, text, words):
    (tmp_path / "bad.bvh").write_text(text)
    with pytest.raises(UserError, match=rf"bad.bvh.*{words}"):
        load_motion(str(tmp_path / "bad.bvh"))


def test_bvh_without_a_human_skeleton_is_refused(tmp_path):
    text = "HIERARCHY\nROOT Base\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n}\nMOTION\n"
    (tmp_path / "robot.bvh").write_text(text + "Frames: 1\nFrame Time: 0.1\n0 0 0\n")
    with pytest.raises(UserError, match=r"robot.bvh.*left_hip.*LeftUpLeg"):
        load_motion(str(tmp_path / "robot.bvh"))
