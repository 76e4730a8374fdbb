"""`FaceTrack`: per-frame ARKit face curves, head and eye rotations at a frame rate, and the face-curve file format.

A motion (`motion.Motion`) optionally carries one; speech, text, emotions, Live Link Face CSVs and SMPL-X jaws all
become one (`dreamavatar.face`). The project's own face-curve files are the motion files `Motion.save` writes, with
these keys beside (or, for a face-only file, instead of) the body's:

    .npz:  face_names (52 strings), face_curves F x 52 in [0, 1], head F x 3, eyes F x 2 x 3 (axis-angle, radians), fps
    .json: {"fps": 30, "face": {"jawOpen": [...], ...}, "head": [[x, y, z], ...], "eyes": [[[...], [...]], ...]}

A JSON file may name only the curves it animates (the others are 0), so curves can be written and edited by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from dreamavatar.body.face import ARKIT_NAMES, CURVE_INDEX, NUM_CURVES, FacePose
from dreamavatar.errors import UserError


@dataclass
class FaceTrack:
    """F frames of face inputs at `fps`.

    curves: F x 52 float32 in [0, 1] (ARKIT_NAMES order); head: F x 3 axis-angle or None; eyes: F x 2 x 3 or None.
    """

    curves: torch.Tensor
    fps: float = 30.0
    head: torch.Tensor | None = None
    eyes: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.curves = torch.as_tensor(self.curves, dtype=torch.float32).reshape(-1, NUM_CURVES).clamp(0, 1)
        n = self.curves.shape[0]
        if self.head is not None:
            self.head = torch.as_tensor(self.head, dtype=torch.float32).reshape(n, 3)
        if self.eyes is not None:
            self.eyes = torch.as_tensor(self.eyes, dtype=torch.float32).reshape(n, 2, 3)
        self.fps = float(self.fps)
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    def __len__(self) -> int:
        return self.curves.shape[0]

    @property
    def duration(self) -> float:
        """Seconds covered: frame k stands for [k / fps, (k + 1) / fps)."""
        return len(self) / self.fps

    def curve(self, name: str) -> torch.Tensor:
        """One curve by its ARKit name: F."""
        return self.curves[:, CURVE_INDEX[name]]

    def pose(self, start: int, stop: int | None = None) -> FacePose:
        """Frames [start, stop) (one frame by default) as a body FacePose."""
        s = slice(start, start + 1 if stop is None else stop)
        return FacePose(self.curves[s], None if self.head is None else self.head[s],
                        None if self.eyes is None else self.eyes[s])  # fmt: skip

    def index(self, frames: torch.Tensor | list[int] | range) -> FaceTrack:
        """The frames at these indices (clamped to the track)."""
        idx = torch.as_tensor(list(frames) if isinstance(frames, range) else frames, dtype=torch.long)
        idx = idx.clamp(0, len(self) - 1)
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return FaceTrack(self.curves[idx], self.fps, pick(self.head), pick(self.eyes))

    def resample(self, fps: float, frames: int | None = None) -> FaceTrack:
        """The track at another frame rate: curves lerped, rotations slerped; `frames` (default: the same duration)
        frames, the last one held beyond the end."""
        from dreamavatar.motion.interp import slerp

        fps = float(fps)
        n = frames if frames is not None else max(1, int(round(self.duration * fps)))
        src = torch.arange(n, dtype=torch.float64) * (self.fps / fps)
        i0 = src.floor().long().clamp(0, len(self) - 1)
        i1 = (i0 + 1).clamp(max=len(self) - 1)
        w = (src - src.floor()).clamp(0, 1).to(torch.float32)[:, None]
        curves = torch.lerp(self.curves[i0], self.curves[i1], w)

        def rot(r: torch.Tensor | None) -> torch.Tensor | None:
            if r is None:
                return None
            q = roma.rotvec_to_unitquat(r)
            ww = w.reshape(-1, *([1] * (r.dim() - 2)))
            return roma.unitquat_to_rotvec(slerp(q[i0], q[i1], ww))

        return FaceTrack(curves, fps, rot(self.head), rot(self.eyes))

    def with_curves(self, curves: torch.Tensor) -> FaceTrack:
        return FaceTrack(curves, self.fps, self.head, self.eyes)

    # ------------------------------------------------------------------ files

    def arrays(self) -> dict[str, np.ndarray]:
        """The npz keys of the face-curve format."""
        out = {"face_names": np.array(ARKIT_NAMES), "face_curves": self.curves.numpy(), "face_fps": np.float64(self.fps)}
        if self.head is not None:
            out["head"] = self.head.numpy()
        if self.eyes is not None:
            out["eyes"] = self.eyes.numpy()
        return out

    def json_dict(self) -> dict:
        """The JSON keys of the face-curve format (only curves that are not all zero)."""
        r = lambda t: np.round(t.double().numpy(), 5).tolist()  # noqa: E731  (1e-5 is far below what shows)
        out: dict = {"face_fps": self.fps, "face": {n: r(self.curves[:, i]) for i, n in enumerate(ARKIT_NAMES)
                                                      if bool((self.curves[:, i] > 0).any())}}  # fmt: skip
        if self.head is not None:
            out["head"] = r(self.head)
        if self.eyes is not None:
            out["eyes"] = r(self.eyes)
        return out

    def save(self, path: str | Path) -> Path:
        """A face-only curve file (.npz or .json), written atomically."""
        import json

        from dreamavatar.io import atomic_write

        path = Path(path)
        if path.suffix.lower() == ".json":
            return atomic_write(path, lambda f: f.write(json.dumps(self.json_dict()).encode()))
        if path.suffix.lower() == ".npz":
            return atomic_write(path, lambda f: np.savez(f, **self.arrays()))
        raise UserError(f"cannot write face curves to {path}: use .csv (Live Link Face), .json or .npz")


def track_from_arrays(path: Path | str, data: dict, fps: float | None = None) -> FaceTrack | None:
    """The FaceTrack in the keys of a motion/face file (npz arrays or a parsed JSON dict), or None if it has none.

    fps: the motion's rate where the file records no `face_fps`."""
    if "face_curves" in data:
        names = [str(n) for n in np.asarray(data.get("face_names", ARKIT_NAMES)).reshape(-1)]
        values = _finite(path, "face_curves", np.asarray(data["face_curves"], dtype=np.float64))
        if values.ndim != 2 or values.shape[1] != len(names):
            raise UserError(f"face file {path}: face_curves has shape {values.shape}, expected F x {len(names)} "
                            "(one column per face_names entry)")  # fmt: skip
        columns = {n: values[:, i] for i, n in enumerate(names)}
    elif isinstance(data.get("face"), dict):
        columns = {str(k): _finite(path, f"face.{k}", np.asarray(v, dtype=np.float64).reshape(-1))
                   for k, v in data["face"].items()}  # fmt: skip
    else:
        return None
    unknown = sorted(set(columns) - set(ARKIT_NAMES))
    if unknown:
        raise UserError(f"face file {path} names unknown curves {unknown[:5]}: use ARKit's names, e.g. jawOpen, "
                        "eyeBlinkLeft, mouthSmileLeft")  # fmt: skip
    lengths = {len(v) for v in columns.values()}
    n = lengths.pop() if len(lengths) == 1 else None
    if n is None or n == 0 or lengths:
        raise UserError(f"face file {path}: its curves have {sorted({len(v) for v in columns.values()})} frames; "
                        "give every curve the same, non-zero number of frames")  # fmt: skip
    curves = np.zeros((n, NUM_CURVES))
    for name, v in columns.items():
        curves[:, CURVE_INDEX[name]] = v
    rate = data.get("face_fps", data.get("fps", fps))
    rate = float(np.asarray(rate)) if rate is not None else 30.0
    if not math.isfinite(rate) or rate <= 0:
        raise UserError(f"face file {path} has frame rate {rate}: give a positive face_fps")
    head = _rotations(path, data, "head", (n, 3))
    eyes = _rotations(path, data, "eyes", (n, 2, 3))
    return FaceTrack(torch.from_numpy(curves), rate, head, eyes)


def _finite(path, key: str, a: np.ndarray) -> np.ndarray:
    if not np.isfinite(a).all():
        raise UserError(f"face file {path}: {key} contains NaN or infinite values; give finite numbers")
    return a


def _rotations(path, data: dict, key: str, shape: tuple[int, ...]) -> torch.Tensor | None:
    if key not in data:
        return None
    a = _finite(path, key, np.asarray(data[key], dtype=np.float64))
    if a.shape != shape:
        want = " x ".join(str(s) for s in shape)
        raise UserError(f"face file {path}: {key} has shape {a.shape}, expected {want} (axis-angle, radians)")
    return torch.from_numpy(a)


__all__ = ["FaceTrack", "track_from_arrays"]
