"""Built-in motions, the joint-limit pose sampler and `dreamavatar motions`."""

from __future__ import annotations

import math
import re

import pytest
import roma
import torch

from dreamavatar.body.skeleton import JOINT_INDEX, a_pose
from dreamavatar.cli import main
from dreamavatar.motion import PoseSampler, builtin_motions, list_motions, load_motion
from dreamavatar.motion.ground import FLOOR_Y, sole_points
from dreamavatar.motion.limits import LIMITS_DEG, euler_to_rotvec, rotvec_to_euler, within_limits

NAMES = list(builtin_motions())


@pytest.fixture(scope="module")
def motions():
    return {n: load_motion(n) for n in NAMES}


def _step_angles(poses: torch.Tensor) -> torch.Tensor:
    """Rotation of each joint from one frame to the next, degrees, F-1 x 24."""
    R = roma.rotvec_to_rotmat(poses.double())
    return torch.rad2deg(roma.rotmat_to_rotvec(R[1:].transpose(-1, -2) @ R[:-1]).norm(dim=-1))


def test_at_least_eight_builtins_with_the_required_names():
    assert len(NAMES) >= 8
    assert {"walk", "run", "jump", "wave", "dance", "squat", "turn", "idle"} <= set(NAMES)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", n) for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_builtin_is_well_formed_and_smooth(motions, name):
    m = motions[name]
    assert m.name == name and m.fps == 30.0
    assert 2.0 <= len(m) / m.fps <= 6.0
    assert m.poses.shape == (len(m), 24, 3) and torch.isfinite(m.poses).all() and torch.isfinite(m.transl).all()
    step = _step_angles(m.poses)
    assert float(step.max()) < 30.0  # < 900 deg/s for every joint
    assert float((step[1:] - step[:-1]).abs().max()) < 18.0  # no sudden jerks between frames
    speed = (m.transl[1:] - m.transl[:-1]).norm(dim=-1) * m.fps
    assert float(speed.max()) < 6.0  # m/s
    assert within_limits(m.poses).all()


@pytest.mark.parametrize("name", NAMES)
def test_builtin_feet_stay_on_or_above_the_floor(motions, name):
    m = motions[name]
    soles = sole_points(m.poses, m.transl)[..., 1]  # F x 6
    assert float(soles.min()) > FLOOR_Y - 0.02
    assert float(soles.min(1).values.max()) < FLOOR_Y + 0.02 or name in ("run", "jump", "jumping_jacks")


def test_looping_motions_join_up(motions):
    for name in ("idle", "dance"):
        m = motions[name]
        wrap = _step_angles(torch.stack([m.poses[-1], m.poses[0]]))
        assert float(wrap.max()) < 1.5 * float(_step_angles(m.poses).max()) + 1e-3


def test_walk_cycle_and_progress(motions):
    m = motions["walk"]
    period = round(1.1 * 30)  # frames in one gait cycle
    legs = [JOINT_INDEX[n] for n in ("left_hip", "left_knee", "right_hip", "right_knee")]
    assert torch.allclose(m.poses[period, legs], m.poses[0, legs], atol=0.05)
    assert float(m.transl[-1, 2] - m.transl[0, 2]) > 2.0  # walks forward (+z)
    speed = (m.transl[-1, 2] - m.transl[0, 2]) / m.duration
    assert 0.9 < float(speed) < 1.8


def test_turn_rotates_the_whole_body_about_y(motions):
    m = motions["turn"]
    R = roma.rotvec_to_rotmat(m.poses[:, 0].double())
    fwd = R[:, :, 2]  # where the body faces
    assert torch.allclose(R[:, 1, 1], torch.ones(len(m), dtype=torch.float64), atol=0.02)  # stays upright
    heading = torch.atan2(fwd[:, 0], fwd[:, 2])
    total = torch.atan2(torch.sin(heading[1:] - heading[:-1]), torch.cos(heading[1:] - heading[:-1])).sum()
    assert float(total) == pytest.approx(2 * math.pi, abs=0.05)


def test_arms_rest_near_the_a_pose_when_unused(motions):
    e = rotvec_to_euler(motions["idle"].poses)
    assert float((e[:, JOINT_INDEX["left_shoulder"], 2] + 45).abs().max()) < 20
    assert float((e[:, JOINT_INDEX["right_shoulder"], 2] - 45).abs().max()) < 20


def test_jump_leaves_the_floor(motions):
    m = motions["jump"]
    lowest = sole_points(m.poses, m.transl)[..., 1].min(1).values
    assert float(lowest.max() - FLOOR_Y) > 0.2


def test_euler_conventions_round_trip_inside_the_limits():
    g = torch.Generator().manual_seed(0)
    lo, hi = LIMITS_DEG[..., 0].double(), LIMITS_DEG[..., 1].double()
    angles = lo + (hi - lo) * torch.rand(64, 24, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(rotvec_to_euler(euler_to_rotvec(angles)), angles, atol=1e-6)


def test_limits_cover_the_a_pose_and_reject_the_impossible():
    assert within_limits(a_pose(1)).all()
    bad = torch.zeros(1, 24, 3)
    bad[0, JOINT_INDEX["left_knee"], 0] = -math.radians(30)  # a knee bent backwards
    assert not within_limits(bad).any()


# ---------------------------------------------------------------- sampler


@pytest.fixture(scope="module")
def sampler():
    return PoseSampler()


def test_sampler_respects_limits_and_is_deterministic(sampler):
    a = sampler.sample(300, torch.Generator().manual_seed(7))
    b = sampler.sample(300, torch.Generator().manual_seed(7))
    c = sampler.sample(300, torch.Generator().manual_seed(8))
    assert a.shape == (300, 24, 3) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert within_limits(a).all()
    # Varied poses, facing +z (no yaw by default).
    assert float(a.std(0).mean()) > 0.1
    R = roma.rotvec_to_rotmat(a[:, 0].double())
    assert torch.allclose(R[:, 0, 2], torch.zeros(300, dtype=torch.float64), atol=0.45)


def test_sampler_canonical_probability():
    always = PoseSampler(PoseSampler.Config(motions=["idle"], p_canonical=1.0)).sample(20)
    assert torch.equal(always, a_pose(20))
    s = PoseSampler(PoseSampler.Config(motions=["idle", "squat"], p_canonical=0.3))
    x = s.sample(400, torch.Generator().manual_seed(1))
    frac = float((x == a_pose(1)).flatten(1).all(1).float().mean())
    assert 0.2 < frac < 0.4


def test_sampler_with_huge_noise_still_respects_limits():
    s = PoseSampler(PoseSampler.Config(motions=["wave"], noise_deg=500.0, max_yaw_deg=90.0, p_canonical=0.0))
    x = s.sample(200, torch.Generator().manual_seed(3))
    assert within_limits(x).all()
    e = rotvec_to_euler(x)
    assert float(e[:, 0, 1].abs().max()) > 45  # the yaw range is used


# ---------------------------------------------------------------- command line


def test_motions_command_lists_names_then_descriptions(capsys):
    assert main(["motions"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == len(NAMES) == len(list_motions())
    for line, name in zip(lines, NAMES):
        m = re.fullmatch(r"([A-Za-z0-9_-]+)\s+(\S.*)", line)
        assert m and m.group(1) == name and len(m.group(2)) > 10
    assert "\x1b" not in out.out
