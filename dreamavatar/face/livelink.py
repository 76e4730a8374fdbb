"""Live Link Face CSV (the iPhone face-capture app's export; also what ARKit-driven rigs import), read and written.

Layout: `Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,
LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll`, one row a frame; blendshape names are ARKit's with a capital
first letter (matched case-insensitively when read); Timecode is `HH:MM:SS:FF.fff` with FF counted at the take's
frame rate (found from the largest FF, or given). Angles are radians (a file whose angles exceed pi is read as
degrees), as rotations about the body's y (yaw, + turns to its left), x (pitch, + looks down) and z (roll) axes,
applied yaw, then pitch, then roll. Missing angle columns mean a still head and eyes; missing blendshape columns
are 0, but a file must have at least one.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np
import roma
import torch

from dreamavatar.body.face import ARKIT_NAMES, CURVE_INDEX
from dreamavatar.errors import UserError
from dreamavatar.motion.face import FaceTrack

LIVE_LINK_ORDER: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawRight", "jawLeft", "jawOpen", "mouthClose", "mouthFunnel",
    "mouthPucker", "mouthRight", "mouthLeft", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft",
    "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip
ANGLES = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
          "RightEyePitch", "RightEyeRoll")  # fmt: skip
COMMON_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 120.0)
_TIMECODE = re.compile(r"^(\d+):(\d+):(\d+)[:;](\d+(?:\.\d+)?)$")


def _capital(name: str) -> str:
    return name[0].upper() + name[1:]


def header() -> list[str]:
    return ["Timecode", "BlendShapeCount", *(_capital(n) for n in LIVE_LINK_ORDER), *ANGLES]


def ypr_to_rotvec(ypr: torch.Tensor) -> torch.Tensor:
    """(yaw, pitch, roll) ... x 3 -> axis-angle of Ry(yaw) Rx(pitch) Rz(roll)."""
    def axis(k: int, a: torch.Tensor) -> torch.Tensor:
        v = torch.zeros(*a.shape, 3, dtype=a.dtype)
        v[..., k] = a
        return roma.rotvec_to_rotmat(v)

    R = axis(1, ypr[..., 0]) @ axis(0, ypr[..., 1]) @ axis(2, ypr[..., 2])
    return roma.rotmat_to_rotvec(R)


def rotvec_to_ypr(rotvec: torch.Tensor) -> torch.Tensor:
    """Inverse of `ypr_to_rotvec` (pitch in [-pi/2, pi/2])."""
    R = roma.rotvec_to_rotmat(rotvec.double())
    pitch = torch.asin((-R[..., 1, 2]).clamp(-1, 1))
    yaw = torch.atan2(R[..., 0, 2], R[..., 2, 2])
    roll = torch.atan2(R[..., 1, 0], R[..., 1, 1])
    return torch.stack([yaw, pitch, roll], -1)


def _seconds(codes: list[str], fps: float | None) -> tuple[np.ndarray | None, float | None]:
    """Times from timecodes (relative to the first row) and the frame rate used, or (None, None) if unparsable."""
    parts = [_TIMECODE.match(c.strip()) for c in codes]
    if not all(parts):
        try:
            t = np.array([float(c) for c in codes])  # plain seconds
            return t - t[0], fps
        except ValueError:
            return None, None
    hms = np.array([[float(p.group(i)) for i in (1, 2, 3)] for p in parts])
    ff = np.array([float(p.group(4)) for p in parts])
    if fps is None:
        top = math.floor(ff.max()) + 1
        fps = next((r for r in COMMON_RATES if r >= top), float(top))
    t = hms @ np.array([3600.0, 60.0, 1.0]) + ff / fps
    return t - t[0], fps


def read_live_link(path: str | Path, fps: float | None = None) -> FaceTrack:
    """A Live Link Face CSV as a FaceTrack at the take's frame rate (rows resampled onto an even grid of that rate).

    fps: the rate the timecodes' frame field counts (default: guessed from them, 60 for short takes)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"face file {path} does not exist: give a Live Link Face .csv (or a .json/.npz face file)")
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"face file {path} is not a readable CSV ({e}): export it again from Live Link Face") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise UserError(f"face file {path} is empty: give a Live Link Face CSV with a header and one row a frame")
    names = [c.strip() for c in rows[0]]
    lookup = {n.lower(): i for i, n in enumerate(names)}
    columns = {n: lookup[n.lower()] for n in ARKIT_NAMES if n.lower() in lookup}
    if not columns:
        raise UserError(f"face file {path} has no blendshape columns (its header is {names[:4]}...): give a Live "
                        "Link Face CSV, whose header names ARKit's blendshapes (EyeBlinkLeft, JawOpen, ...)")  # fmt: skip
    body = rows[1:]
    if not body:
        raise UserError(f"face file {path} has a header but no frames: record a take with at least one frame")
    wanted = sorted(set(columns.values()) | {lookup[a.lower()] for a in ANGLES if a.lower() in lookup})
    values = np.zeros((len(body), len(names)))
    try:
        for k, r in enumerate(body):
            values[k, wanted] = [_number(r, i) for i in wanted]
    except ValueError as e:
        raise UserError(f"face file {path}: {e}; give numbers in every blendshape and angle column") from None
    curves = np.zeros((len(body), len(ARKIT_NAMES)))
    for name, i in columns.items():
        curves[:, CURVE_INDEX[name]] = values[:, i]
    if not np.isfinite(curves).all():
        raise UserError(f"face file {path} has NaN or infinite blendshape values: give finite numbers in [0, 1]")
    angles = {a: values[:, lookup[a.lower()]] for a in ANGLES if a.lower() in lookup}
    scale = math.pi / 180 if angles and max(np.abs(v).max() for v in angles.values()) > math.pi else 1.0
    zero = np.zeros(len(body))
    head = ypr_to_rotvec(torch.from_numpy(np.stack([angles.get(f"Head{k}", zero) for k in ("Yaw", "Pitch", "Roll")],
                                                   -1) * scale))  # fmt: skip
    eyes = torch.stack([ypr_to_rotvec(torch.from_numpy(np.stack([angles.get(f"{s}Eye{k}", zero)
                                                                 for k in ("Yaw", "Pitch", "Roll")], -1) * scale))
                        for s in ("Left", "Right")], 1)  # fmt: skip
    has_head = any(a.startswith("Head") for a in angles)
    has_eyes = any("Eye" in a for a in angles)
    codes = [r[lookup["timecode"]] if "timecode" in lookup and lookup["timecode"] < len(r) else "" for r in body]
    t, rate = _seconds(codes, fps) if "timecode" in lookup else (None, None)
    rate = rate or fps or 60.0
    track = FaceTrack(torch.from_numpy(curves), rate, head if has_head else None, eyes if has_eyes else None)
    if t is not None and len(t) > 1 and (np.diff(t) > 0).all():
        track = _even(track, t, rate)
    return track


def _number(row: list[str], i: int) -> float:
    if i >= len(row) or not row[i].strip():
        return 0.0
    try:
        return float(row[i])
    except ValueError:
        raise ValueError(f"{row[i]!r} is not a number") from None


def _even(track: FaceTrack, t: np.ndarray, fps: float) -> FaceTrack:
    """Resample rows at times t (s) onto frames k / fps (dropped or repeated rows in a take are common)."""
    n = max(1, int(round(t[-1] * fps)) + 1)
    grid = np.arange(n) / fps
    pos = np.interp(grid, t, np.arange(len(t)))
    i0 = np.floor(pos).astype(int)
    frac = torch.from_numpy(pos - i0).float()
    i1 = np.minimum(i0 + 1, len(t) - 1)
    a, b = track.index(i0.tolist()), track.index(i1.tolist())
    curves = torch.lerp(a.curves, b.curves, frac[:, None])

    def rot(x, y):
        if x is None:
            return None
        from dreamavatar.motion.interp import slerp

        w = frac.reshape(-1, *([1] * (x.dim() - 2)))
        return roma.unitquat_to_rotvec(slerp(roma.rotvec_to_unitquat(x), roma.rotvec_to_unitquat(y), w))

    return FaceTrack(curves, fps, rot(a.head, b.head), rot(a.eyes, b.eyes))


def write_live_link(track: FaceTrack, path: str | Path) -> Path:
    """Write a FaceTrack as a Live Link Face CSV (timecodes at the track's frame rate), atomically."""
    from dreamavatar.io import atomic_write

    fps = track.fps
    zero = torch.zeros(len(track), 3)
    head = rotvec_to_ypr(track.head if track.head is not None else zero)
    eyes = [rotvec_to_ypr(track.eyes[:, k] if track.eyes is not None else zero) for k in (0, 1)]
    angles = torch.cat([head, *eyes], -1).numpy()
    order = [CURVE_INDEX[n] for n in LIVE_LINK_ORDER]
    curves = track.curves.numpy()[:, order]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header())
    per = int(round(fps))
    for k in range(len(track)):
        sec, ff = divmod(k, per) if abs(fps - per) < 1e-6 else (int(k / fps), k - int(k / fps) * fps)
        h, rem = divmod(int(sec), 3600)
        m, s = divmod(rem, 60)
        w.writerow([f"{h:02d}:{m:02d}:{s:02d}:{int(ff):02d}.000", len(LIVE_LINK_ORDER) + len(ANGLES),
                    *(f"{v:.6f}" for v in curves[k]), *(f"{v:.6f}" for v in angles[k])])  # fmt: skip
    return atomic_write(path, lambda f: f.write(out.getvalue().encode()))


__all__ = ["LIVE_LINK_ORDER", "ANGLES", "header", "read_live_link", "write_live_link", "ypr_to_rotvec",
           "rotvec_to_ypr"]  # fmt: skip
