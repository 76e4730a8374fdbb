"""The project's own procedural motions (30 fps): keyframed joint angles with smooth interpolation.

Angles are per-joint Euler degrees in `limits` conventions; keyframes are joined by monotone cubics (PCHIP, no
overshoot, holds stay still), periodic where the motion loops. Feet: y is set each frame so the lowest sole point
touches the floor (plus a ballistic arc in flight); for walk and run x/z follow the supporting foot so it does not
slide, and the cycle is retimed towards a steady speed. Arms rest near the A-pose when unused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import torch

from dreamavatar.body.skeleton import JOINT_INDEX
from dreamavatar.motion.ground import ground_each_frame, sole_points
from dreamavatar.motion.limits import euler_to_rotvec
from dreamavatar.motion.motion import DEFAULT_FPS, Motion, single_thread

FPS = DEFAULT_FPS
ARM_REST = -50.0  # shoulder z (left side) when the arms hang relaxed, near the A-pose's -45
GRAVITY = 9.81
RETIME = 0.5  # how far gaits are retimed towards a steady speed (1 = fully; more makes the swing leg snap)

Keys = Sequence[tuple[float, float]]


def track(t: np.ndarray, keys: Keys, period: float | None = None) -> np.ndarray:
    """Interpolate (time, value) keyframes at times t (F) with a monotone cubic; periodic keys wrap at `period`."""
    from scipy.interpolate import PchipInterpolator  # imported here: `import dreamavatar.motion` stays light

    kt = np.array([k[0] for k in keys], dtype=np.float64)
    kv = np.array([k[1] for k in keys], dtype=np.float64)
    if len(kt) == 1:
        return np.full_like(t, kv[0], dtype=np.float64)
    if period is None:
        return PchipInterpolator(kt, kv)(np.clip(t, kt[0], kt[-1]))
    # A key at the period itself repeats the first. Wrap two keys on each side so the curve and its slope join up.
    keep = kt < period - 1e-9
    kt, kv = kt[keep], kv[keep]
    kt = np.concatenate([kt[-2:] - period, kt, kt[:2] + period])
    kv = np.concatenate([kv[-2:], kv, kv[:2]])
    return PchipInterpolator(kt, kv)(np.mod(t, period))


def smoothstep(t: np.ndarray, a: float, b: float) -> np.ndarray:
    """0 before a, 1 after b, a smooth (C1) ramp between."""
    s = np.clip((t - a) / (b - a), 0, 1)
    return s * s * (3 - 2 * s)


class _Angles:
    """F x 24 x 3 Euler angles being authored; `add` sums so layers (base pose, cycles, accents) stack."""

    def __init__(self, frames: int):
        self.e = np.zeros((frames, 24, 3))
        self.add_pair("shoulder", (0, 0, ARM_REST))
        self.add_pair("elbow", (0, -12, 0))

    def add(self, joint: str, x=0.0, y=0.0, z=0.0) -> None:
        self.e[:, JOINT_INDEX[joint]] += np.stack(np.broadcast_arrays(x, y, z, np.zeros(len(self.e))), -1)[:, :3]

    def add_pair(self, joint: str, left=(0.0, 0.0, 0.0), right=None) -> None:
        """Left-side angles and right-side angles written as for the left (mirrored here); right = left if None."""
        right = left if right is None else right
        self.add(f"left_{joint}", *left)
        self.add(f"right_{joint}", right[0], -np.asarray(right[1]), -np.asarray(right[2]))

    def add_right(self, joint: str, x=0.0, y=0.0, z=0.0) -> None:
        """Right-side angles written as for the left side (mirrored here)."""
        self.add(f"right_{joint}", x, -np.asarray(y), -np.asarray(z))

    def poses(self) -> torch.Tensor:
        return euler_to_rotvec(torch.from_numpy(self.e))


def _times(seconds: float) -> np.ndarray:
    return np.arange(int(round(seconds * FPS))) / FPS


def _grounded(poses: torch.Tensor, lift: np.ndarray | None = None, xz: np.ndarray | None = None) -> torch.Tensor:
    """Translation F x 3: soles on the floor each frame, plus an optional lift (y) and horizontal path."""
    transl = torch.zeros(poses.shape[0], 3, dtype=poses.dtype)
    transl = ground_each_frame(poses, transl)
    if lift is not None:
        transl[:, 1] += torch.from_numpy(lift)
    if xz is not None:
        transl[:, [0, 2]] += torch.from_numpy(xz).to(transl)
    return transl


def _support_steps(poses: torch.Tensor, stance: np.ndarray, sharpness: float = 0.01) -> np.ndarray:
    """Root displacement per frame (F-1 x 2, x and z) that keeps the supporting foot still.

    stance: F x 2 weights (left, right foot) of being on the floor. Within a foot the lowest of heel, ball and toe
    carries it. Frames with no foot down (flight) move at the mean step of the supported frames.
    """
    soles = sole_points(poses).double()  # F x 6 x 3 (heels, balls, toe tips; left, right), no translation
    feet = soles[:, [[0, 2, 4], [1, 3, 5]]]  # F x 2 feet x 3 points x 3
    h = feet[..., 1]
    w = torch.softmax(-(h - h.min(-1, keepdim=True).values) / sharpness, dim=-1)  # heel/ball/toe weights
    w = w * torch.from_numpy(stance)[..., None]
    w = 0.5 * (w[1:] + w[:-1])
    total = w.sum((1, 2))
    step = -(w[..., None] * (feet[1:, ..., [0, 2]] - feet[:-1, ..., [0, 2]])).sum((1, 2))
    supported = total > 0.05
    step[supported] /= total[supported, None]
    step[~supported] = step[supported].mean(0) if supported.any() else 0.0
    return step.numpy()


def _planted_path(poses: torch.Tensor, stance: np.ndarray) -> np.ndarray:
    """Horizontal root path F x 2 from `_support_steps`, centred so its midpoint is the origin."""
    step = _support_steps(poses, stance)
    path = np.concatenate([np.zeros((1, 2)), np.cumsum(step, 0)])
    return path - 0.5 * (path[0] + path[-1])


def _stance(phase: np.ndarray, down: float, up: float, blend: float = 0.03) -> np.ndarray:
    """Smooth 0/1 indicator of a foot being down between cycle phases `down` and `up` (periodic in 1)."""
    p = np.mod(phase - down, 1.0)
    return smoothstep(p, 0, blend) * (1 - smoothstep(p, up - down - blend, up - down))


def _flight(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Ballistic height above the take-off line for a flight from t0 to t1 (zero outside)."""
    return np.where((t > t0) & (t < t1), 0.5 * GRAVITY * (t - t0) * (t1 - t), 0.0)


def _motion(name: str, a: _Angles, transl_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Motion:
    poses = a.poses()
    transl = _grounded(poses) if transl_fn is None else transl_fn(poses)
    return Motion(poses, transl, FPS, name)


# ---------------------------------------------------------------- the motions


def _gait(
    name: str,
    angles: Callable[[np.ndarray], _Angles],
    period: float,
    cycles: int,
    stance: Callable[[np.ndarray], np.ndarray],
    lift: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Motion:
    """A cyclic gait from `angles(phase)`, retimed so the body advances at a steady speed with the supporting foot
    planted (keyframed leg angles alone would surge and stall within a cycle). stance(phase) -> F x 2 weights."""
    grid = np.linspace(0, 1, 241)
    steps = _support_steps(angles(grid).poses(), stance(grid))[:, 1]  # forward (+z) advance per grid step
    steps = np.clip(steps, 0.5 * steps.mean(), None)  # keep the retiming monotonic and gentle
    dist = np.concatenate([[0], np.cumsum(steps)]) / steps.sum()
    u = _times(cycles * period) / period
    frac = u - np.floor(u)
    phase = np.floor(u) + (1 - RETIME) * frac + RETIME * np.interp(frac, dist, grid)
    a = angles(phase)
    poses = a.poses()
    transl = _grounded(poses, None if lift is None else lift(phase), _planted_path(poses, stance(phase)))
    return Motion(poses, transl, FPS, name)


def _walk_angles(phase: np.ndarray) -> _Angles:
    a = _Angles(len(phase))
    # Left-leg keys over one cycle (phase 0 = left heel strike); the right leg runs half a cycle later.
    hip = [(0, -25), (0.15, -18), (0.35, -2), (0.55, 12), (0.7, -8), (0.85, -27)]
    knee = [(0, 3), (0.12, 15), (0.35, 5), (0.55, 35), (0.72, 62), (0.88, 20)]
    ankle = [(0, -6), (0.1, 5), (0.4, -8), (0.6, 16), (0.75, -4), (0.9, -6)]
    toe = [(0, 0), (0.4, 0), (0.55, -25), (0.65, -5), (0.8, 0)]
    for side, shift in (("left", 0.0), ("right", 0.5)):
        ph = phase - shift
        a.add(f"{side}_hip", track(ph, hip, 1))
        a.add(f"{side}_knee", track(ph, knee, 1))
        a.add(f"{side}_ankle", track(ph, ankle, 1))
        a.add(f"{side}_foot", track(ph, toe, 1))
    ph = 2 * math.pi * phase
    a.add("pelvis", x=3, y=5 * np.sin(ph), z=3 * np.sin(ph + 0.6))
    a.add("spine2", y=-7 * np.sin(ph))
    a.add("neck", y=2 * np.sin(ph), x=-3)
    swing = 18 * np.cos(ph)  # left arm back while the left leg is forward
    a.add_pair("shoulder", (0, swing, -20), (0, -swing, -20))
    a.add_pair("elbow", (0, -8 - 8 * (1 - np.cos(ph)), 0), (0, -8 - 8 * (1 + np.cos(ph)), 0))
    return a


def walk() -> Motion:
    """A relaxed walk forward (+z): 1.1 s cycle, 3 cycles, arms swinging opposite to the legs."""
    return _gait(
        "walk", _walk_angles, 1.1, 3, lambda p: np.stack([_stance(p, 0.0, 0.62), _stance(p, 0.5, 1.12)], -1)
    )


def _run_angles(phase: np.ndarray) -> _Angles:
    a = _Angles(len(phase))
    # Stance hip keys (phase 0-0.35) solved so the foot sweeps back at a steady speed under the bending knee.
    hip = [(0, -30), (0.06, -26.7), (0.12, -25.1), (0.18, -18.3), (0.24, -7.4), (0.3, 4.2), (0.35, 12), (0.45, 8),
           (0.62, -30), (0.8, -52), (0.93, -38)]  # fmt: skip
    knee = [(0, 22), (0.15, 42), (0.35, 20), (0.55, 95), (0.7, 112), (0.85, 60), (0.95, 28)]
    ankle = [(0, 0), (0.12, -20), (0.18, -22), (0.24, -10), (0.3, 10), (0.35, 28), (0.55, 12), (0.8, -2), (0.95, -4)]
    for side, shift in (("left", 0.0), ("right", 0.5)):
        ph = phase - shift
        a.add(f"{side}_hip", track(ph, hip, 1))
        a.add(f"{side}_knee", track(ph, knee, 1))
        a.add(f"{side}_ankle", track(ph, ankle, 1))
    ph = 2 * math.pi * phase
    a.add("pelvis", x=6, y=7 * np.sin(ph), z=3 * np.sin(ph))
    a.add("spine1", x=6)
    a.add("spine2", y=-12 * np.sin(ph))
    a.add("neck", x=-8)
    swing = 35 * np.cos(ph)
    a.add_pair("shoulder", (-5, swing, -18), (-5, -swing, -18))
    a.add_pair("elbow", (0, -70 - 12 * np.cos(ph), 0), (0, -70 + 12 * np.cos(ph), 0))
    return a


def run() -> Motion:
    """A jog forward (+z): 0.7 s cycle with flight phases, bent elbows pumping, torso leaning in."""
    # Flight: both feet leave the floor around phases 0.35-0.5 and 0.85-1.0.
    return _gait(
        "run",
        _run_angles,
        0.7,
        3,
        lambda p: np.stack([_stance(p, 0.0, 0.35), _stance(p, 0.5, 0.5 + 0.35)], -1),
        lambda p: 0.05 * np.clip(np.cos(2 * math.pi * (2 * p - 0.86)), 0, None) ** 2,
    )


def jump() -> Motion:
    """A standing vertical jump: crouch, arms swing up, 0.5 s in the air, soft landing, stand."""
    t = _times(3.0)
    a = _Angles(len(t))
    k = [0.0, 0.45, 1.0, 1.28, 1.55, 1.78, 2.05, 2.6, 3.0]  # stand, crouch, take-off, apex, touch, absorb, stand
    a.add_pair("hip", (track(t, list(zip(k, [0, 0, -70, 5, -35, -15, -60, -2, 0]))), 0, 4))
    a.add_pair("knee", (track(t, list(zip(k, [0, 0, 105, 0, 50, 12, 90, 4, 0]))), 0, 0))
    a.add_pair("ankle", (track(t, list(zip(k, [0, 0, -30, 40, 20, 30, -25, 0, 0]))), 0, 0))
    a.add("pelvis", x=track(t, list(zip(k, [0, 0, 20, -3, 5, 3, 18, 1, 0]))))
    a.add("spine1", x=track(t, list(zip(k, [0, 0, 18, -6, 5, 5, 15, 2, 0]))))
    a.add("neck", x=track(t, list(zip(k, [0, 0, -20, 5, -5, -5, -15, 0, 0]))))
    swing = track(t, list(zip(k, [0, 0, 45, -55, -35, -40, -55, -5, 0])))  # arms back, then up and forward
    lift = track(t, list(zip(k, [0, 0, -35, 60, 100, 30, -5, 0, 0])))
    a.add_pair("shoulder", (0, swing, lift))
    a.add_pair("elbow", (0, track(t, list(zip(k, [0, 0, -10, -25, -20, -25, -35, -5, 0]))), 0))
    return _motion("jump", a, lambda p: _grounded(p, lift=_flight(t, 1.28, 1.78)))


def wave() -> Motion:
    """Raises the right hand and waves hello three times, then lowers it."""
    t = _times(4.0)
    a = _Angles(len(t))
    up = smoothstep(t, 0.2, 0.9) * (1 - smoothstep(t, 3.1, 3.8))
    a.add_right("shoulder", x=-90 * up, y=-15 * up, z=(20 - ARM_REST) * up)
    osc = np.sin(2 * math.pi * 1.25 * (t - 0.9)) * smoothstep(t, 0.7, 1.1) * (1 - smoothstep(t, 2.9, 3.3))
    a.add_right("elbow", y=-(90 + 28 * osc) * up)
    a.add_right("wrist", z=10 * osc * up)
    a.add("neck", z=-5 * up, y=-6 * up)
    a.add("spine2", z=-3 * up)
    a.add("pelvis", z=2 * up)
    a.add_pair("hip", (0, 0, 2 * up), (0, 0, -2 * up))
    return _motion("wave", a)


def dance() -> Motion:
    """A lively 120 bpm groove: knee bounce, hip sway, arm pumps, disco points, hands up; loops every 6 s."""
    P, B = 6.0, 0.5  # loop length, beat
    t = _times(P)
    a = _Angles(len(t))
    beat = 0.5 + 0.5 * np.cos(2 * math.pi * t / B)  # 1 on the beat: knees straighten between beats
    bounce = 1 - beat
    sway = np.sin(2 * math.pi * t / (2 * B))  # one side per beat
    # Legs: bounce, hip sway and a knee lift every other bar.
    lift_l = track(t, [(0, 0), (1.75, 0), (2.0, 1), (2.25, 0), (3.75, 0), (4.0, 0), (5.0, 0), (6, 0)], P)
    lift_r = track(t, [(0, 0), (2.75, 0), (3.0, 1), (3.25, 0), (6, 0)], P)
    a.add("pelvis", x=4 + 3 * bounce, y=10 * sway, z=7 * sway)
    for side, lift, s in (("left", lift_l, 1), ("right", lift_r, -1)):
        side_bend = np.clip(s * sway, 0, None)  # the hip that drops bends its knee
        a.add(f"{side}_hip", x=-12 * bounce - 8 - 55 * lift, y=-10 * sway, z=-7 * sway + s * 4)
        a.add(f"{side}_knee", x=22 * bounce + 10 + 14 * side_bend + 85 * lift)
        a.add(f"{side}_ankle", x=-8 * bounce - 5 + 10 * lift)
    a.add("spine1", x=3 * bounce, z=-4 * sway)
    a.add("spine2", y=-8 * sway, z=-4 * sway)
    a.add("neck", x=8 * bounce - 4, y=6 * sway)
    # Arms by section (seconds): 0-2 pumps, 2-4 disco points, 4-6 hands up waving; a periodic blend between them.
    pumps = track(t, [(0, 1), (1.75, 1), (2.1, 0), (5.6, 0), (6, 1)], P)
    disco = track(t, [(0, 0), (1.75, 0), (2.1, 1), (3.75, 1), (4.1, 0), (6, 0)], P)
    up = track(t, [(0, 0), (3.75, 0), (4.1, 1), (5.6, 1), (6, 0)], P)
    pump = np.sin(2 * math.pi * t / (2 * B))
    a.add_pair(
        "shoulder",
        (0, pumps * 35 * pump, pumps * (-15 + 10 * bounce + 20 * pump)),
        (0, -pumps * 35 * pump, pumps * (-15 + 10 * bounce - 20 * pump)),
    )
    a.add_pair("elbow", (0, pumps * -80, 0))
    # Disco: right arm points up-out on one beat and down-across on the next; left hand on the hip.
    point = 0.5 + 0.5 * np.sin(2 * math.pi * t / (2 * B) - math.pi / 2)  # 0 high, 1 low
    a.add_right("shoulder", y=-45 * point * disco, z=(110 - 150 * point) * disco)
    a.add_right("elbow", y=10 * disco)
    a.add("left_shoulder", x=-30 * disco, y=30 * disco, z=-15 * disco)
    a.add("left_elbow", y=-disco * 95)
    # Hands up: both arms high, waving side to side with the torso.
    a.add_pair("shoulder", (0, up * -5, up * (120 + 12 * sway)), (0, up * -5, up * (120 - 12 * sway)))
    a.add_pair("elbow", (0, -18 * up, 0))
    a.add("spine2", z=-6 * sway * up)
    return _motion("dance", a)


def squat() -> Motion:
    """Two slow bodyweight squats, arms reaching forward for balance."""
    t = _times(4.0)
    a = _Angles(len(t))
    k = [0.0, 0.25, 1.0, 1.2, 1.9, 2.15, 2.9, 3.1, 3.8, 4.0]
    d = track(t, list(zip(k, [0, 0, 1, 1, 0, 0, 1, 1, 0, 0])))  # depth 0..1, holds at top and bottom
    a.add("pelvis", x=22 * d)
    a.add_pair("hip", (-105 * d, 0, 8 * d))
    a.add_pair("knee", (118 * d, 0, 0))
    a.add_pair("ankle", (-35 * d, 0, 0))
    a.add("spine1", x=8 * d)
    a.add("neck", x=-18 * d)
    a.add_pair("shoulder", (0, -80 * d, -ARM_REST * d))
    a.add_pair("elbow", (0, 8 * d, 0))
    return _motion("squat", a)


def turn() -> Motion:
    """Turns on the spot through a full circle (about y) with small steps, then settles."""
    t = _times(4.0)
    a = _Angles(len(t))
    yaw = 360 * smoothstep(t, 0.4, 3.5)
    steps = smoothstep(t, 0.3, 0.6) * (1 - smoothstep(t, 3.3, 3.6))
    a.add("pelvis", y=yaw)
    for side, shift in (("left", 0.0), ("right", 0.5)):
        lift = np.clip(np.sin(2 * math.pi * (t / 0.8 - shift)), 0, None) ** 2 * steps
        a.add(f"{side}_hip", x=-28 * lift)
        a.add(f"{side}_knee", x=45 * lift)
        a.add(f"{side}_ankle", x=-5 * lift)
    a.add("spine2", y=8 * steps)
    a.add("neck", y=12 * steps)
    a.add_pair("shoulder", (0, 8 * steps, -5 * steps), (0, -8 * steps, -5 * steps))
    return _motion("turn", a)


def idle() -> Motion:
    """Standing at ease: breathing, a slow weight shift and a look around; loops every 4 s."""
    P = 4.0
    t = _times(P)
    a = _Angles(len(t))
    ph = 2 * math.pi * t / P
    a.add("pelvis", z=2 * np.sin(ph), y=3 * np.sin(ph + 1))
    a.add("spine3", x=1.5 * np.sin(2 * ph))
    a.add("spine1", z=-2 * np.sin(ph))
    a.add("neck", y=18 * np.sin(ph + 0.5), x=4 * np.sin(2 * ph))
    a.add_pair("hip", (-2, 0, 3 - 2 * np.sin(ph)), (-2, 0, 3 + 2 * np.sin(ph)))
    a.add_pair("knee", (4 + 3 * np.clip(np.sin(ph), 0, None), 0, 0), (4 + 3 * np.clip(-np.sin(ph), 0, None), 0, 0))
    a.add_pair("shoulder", (0, 3 * np.sin(ph), -8 + 2 * np.sin(2 * ph)), (0, -3 * np.sin(ph), -8 + 2 * np.sin(2 * ph)))
    a.add_pair("elbow", (0, -6 - 2 * np.sin(2 * ph), 0))
    return _motion("idle", a)


def kick() -> Motion:
    """A front kick with the right leg from a guard stance."""
    t = _times(3.0)
    a = _Angles(len(t))
    k = [0.0, 0.3, 0.75, 1.0, 1.3, 1.75, 2.3, 3.0]  # guard, chamber, extend, re-chamber, down, guard, rest
    a.add("right_hip", x=track(t, list(zip(k, [0, -10, -80, -85, -75, -10, -5, 0]))))
    a.add("right_knee", x=track(t, list(zip(k, [0, 12, 110, 8, 100, 12, 6, 0]))))
    a.add("right_ankle", x=track(t, list(zip(k, [0, 0, 20, 35, 20, 0, 0, 0]))))
    a.add_pair("hip", (track(t, list(zip(k, [0, -12, -18, -20, -18, -12, -5, 0]))), 0, 0), (0, 0, 0))
    a.add_pair("knee", (track(t, list(zip(k, [0, 15, 20, 20, 20, 15, 5, 0]))), 0, 0), (0, 0, 0))
    a.add_pair("ankle", (track(t, list(zip(k, [0, -5, -8, -8, -8, -5, 0, 0]))), 0, 0), (0, 0, 0))
    a.add("spine1", x=track(t, list(zip(k, [0, 3, -12, -15, -12, 3, 0, 0]))))
    a.add("pelvis", y=track(t, list(zip(k, [0, -5, -10, -15, -10, -5, 0, 0]))))
    guard = track(t, list(zip(k, [0, 1, 1, 1, 1, 1, 0.3, 0])))
    a.add_pair("shoulder", (0, -35 * guard, -15 * guard))
    a.add_pair("elbow", (0, -100 * guard, 0))
    return _motion("kick", a)


def bow() -> Motion:
    """A polite bow from the hips, held for a moment."""
    t = _times(3.0)
    a = _Angles(len(t))
    d = track(t, [(0, 0), (0.3, 0), (1.1, 1), (1.7, 1), (2.5, 0), (3, 0)])
    a.add("pelvis", x=35 * d)
    a.add_pair("hip", (-35 * d, 0, 0))
    a.add("spine1", x=8 * d)
    a.add("spine2", x=7 * d)
    a.add("neck", x=8 * d)
    a.add_pair("shoulder", (0, -10 * d, -25 * d))
    return _motion("bow", a)


def clap() -> Motion:
    """Applause: five claps in front of the chest."""
    t = _times(3.0)
    a = _Angles(len(t))
    up = smoothstep(t, 0.1, 0.6) * (1 - smoothstep(t, 2.5, 2.95))
    rate = 2.8  # claps per second
    closed = (0.5 - 0.5 * np.cos(2 * math.pi * rate * (t - 0.6))) * smoothstep(t, 0.5, 0.7)
    closed *= 1 - smoothstep(t, 2.3, 2.5)

    # Shoulder/elbow angles solved offline (IK on REST_JOINTS): hands 36 cm apart, then touching, at chest height.
    def pose(open_: float, shut: float) -> np.ndarray:
        return (open_ + (shut - open_) * closed) * up

    a.add_pair("shoulder", (pose(2, 30), pose(-19, -33), pose(-82 - ARM_REST, -84 - ARM_REST)))
    a.add_pair("elbow", (0, pose(-89, -74) - (-12) * up, 0))
    a.add("neck", x=4 * up)
    return _motion("clap", a)


def jumping_jacks() -> Motion:
    """Four jumping jacks: legs out and arms overhead, back together."""
    t = _times(4.0)
    a = _Angles(len(t))
    cyc = 0.9
    s = 0.5 - 0.5 * np.cos(2 * math.pi * np.clip(t - 0.2, 0, 4 * cyc) / cyc)  # 0 closed, 1 open
    a.add_pair("hip", (-4 * s, 0, 14 * s))
    a.add_pair("knee", (10 * s, 0, 0))
    a.add_pair("ankle", (-4 * s, 0, -12 * s))
    a.add_pair("shoulder", (0, -5 * s, 150 * s))
    a.add_pair("elbow", (0, 4 * s, 0))
    hop = np.zeros_like(t)
    for i in range(8):  # a little hop at each open and close
        t0 = 0.2 + i * cyc / 2 + cyc / 4 - 0.12
        hop += _flight(t, t0, t0 + 0.24)
    return _motion("jumping_jacks", a, lambda p: _grounded(p, lift=hop))


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class BuiltinMotion:
    name: str
    description: str
    factory: Callable[[], Motion]

    def make(self) -> Motion:
        """A fresh copy of the motion (generated once per process)."""
        m = _cached(self.name)
        return Motion(m.poses.clone(), m.transl.clone(), m.fps, m.name)


_FACTORIES: tuple[Callable[[], Motion], ...] = (
    walk, run, jump, wave, dance, squat, turn, idle, kick, bow, clap, jumping_jacks,
)  # fmt: skip


def _describe(fn: Callable[[], Motion]) -> str:
    return " ".join((fn.__doc__ or "").split())


@lru_cache(maxsize=None)
def _cached(name: str) -> Motion:
    with single_thread():
        return {f.__name__: f for f in _FACTORIES}[name]()


def builtin_motions() -> dict[str, BuiltinMotion]:
    """Built-in motions by name, in listing order."""
    return {f.__name__: BuiltinMotion(f.__name__, _describe(f), f) for f in _FACTORIES}


def list_motions() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in motion."""
    return [(m.name, m.description) for m in builtin_motions().values()]

