"""The `Motion` type: a sequence of SMPL 24-joint poses with a root translation, a frame rate and optionally a face
track (ARKit curves, head and eye rotations, `face.py`)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator
from pathlib import Path

import numpy as np
import roma
import torch

from dreamavatar.body.face import FacePose
from dreamavatar.body.skeleton import NUM_JOINTS, forward_kinematics
from dreamavatar.errors import UserError
from dreamavatar.motion.face import FaceTrack
from dreamavatar.motion.interp import slerp

DEFAULT_FPS = 30.0


@dataclass
class Motion:
    """F frames of body poses.

    poses:  F x 24 x 3 float32 axis-angle, SMPL joint order (joint 0 = global orientation), world-aligned rest frames
    transl: F x 3 float32 root translation in metres (world: y up, the body faces +z)
    fps:    frames per second
    name:   a short label (the built-in's name or the file's stem)
    face:   optional FaceTrack with one frame per body frame (same fps)
    """

    poses: torch.Tensor
    transl: torch.Tensor
    fps: float = DEFAULT_FPS
    name: str = "motion"
    face: FaceTrack | None = None

    def __post_init__(self) -> None:
        self.poses = torch.as_tensor(self.poses, dtype=torch.float32).reshape(-1, NUM_JOINTS, 3)
        self.transl = torch.as_tensor(self.transl, dtype=torch.float32).reshape(-1, 3)
        self.fps = float(self.fps)
        if self.poses.shape[0] != self.transl.shape[0]:
            raise ValueError(f"poses has {self.poses.shape[0]} frames but transl has {self.transl.shape[0]}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.face is not None and (len(self.face) != self.poses.shape[0] or abs(self.face.fps - self.fps) > 1e-6):
            self.face = self.face.resample(self.fps, self.poses.shape[0])

    def __len__(self) -> int:
        return self.poses.shape[0]

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (len(self) - 1) / self.fps

    def joints(self, rest_joints: torch.Tensor | None = None) -> torch.Tensor:
        """World joint positions F x 24 x 3 by forward kinematics on `rest_joints` (default skeleton.REST_JOINTS)."""
        return forward_kinematics(self.poses, rest_joints, self.transl)[0]

    def resample(self, fps: float) -> Motion:
        """The same motion at another frame rate over the same time span.

        Frame k of the result is at time k / fps; rotations are slerped (quaternions), translations lerped.
        """
        fps = float(fps)
        if not fps > 0:
            raise UserError(f"frame rate {fps} is not positive: give a frame rate such as 30")
        if abs(fps - self.fps) < 1e-9:
            return Motion(self.poses.clone(), self.transl.clone(), fps, self.name, self.face)
        n = int(np.floor(self.duration * fps + 1e-6)) + 1
        src = torch.arange(n, dtype=torch.float64) * (self.fps / fps)
        i0 = src.floor().long().clamp(max=len(self) - 1)
        i1 = (i0 + 1).clamp(max=len(self) - 1)
        w = (src - i0).clamp(0, 1).to(torch.float32)
        q = roma.rotvec_to_unitquat(self.poses)  # F x 24 x 4 (xyzw)
        qi = slerp(q[i0], q[i1], w[:, None])
        transl = torch.lerp(self.transl[i0], self.transl[i1], w[:, None])
        face = None if self.face is None else self.face.resample(fps, n)
        return Motion(roma.unitquat_to_rotvec(qi), transl, fps, self.name, face)

    def slice(self, start: int | None = None, stop: int | None = None) -> Motion:
        """Frames [start, stop) with Python slice semantics (negative indices count from the end)."""
        idx = range(len(self))[slice(start, stop)]
        if len(idx) == 0:
            raise UserError(
                f"frames {'' if start is None else start}:{'' if stop is None else stop} select no frame of motion "
                f"'{self.name}' ({len(self)} frames): give a range inside 0:{len(self)}"
            )
        face = None if self.face is None else self.face.index(idx)
        return Motion(self.poses[idx.start : idx.stop], self.transl[idx.start : idx.stop], self.fps, self.name, face)

    def face_pose(self, start: int, stop: int | None = None) -> FacePose | None:
        """The face inputs of frames [start, stop) (one frame by default) for the body, or None without a face."""
        return None if self.face is None else self.face.pose(start, stop)

    def loop(self, frames: int) -> Motion:
        """`frames` frames of this motion played again and again (x and z of each repeat continue from where the
        last one ended, so a walk keeps walking); the face track, if any, is looped with it."""
        idx = torch.arange(frames) % len(self)
        shift = self.transl[-1] - self.transl[0]
        shift[1] = 0  # heights repeat; horizontal travel accumulates
        transl = self.transl[idx] + (torch.arange(frames) // len(self))[:, None].float() * shift
        face = None if self.face is None else self.face.index(idx)
        return Motion(self.poses[idx], transl, self.fps, self.name, face)

    def with_face(self, face: FaceTrack) -> Motion:
        """This body motion with `face`, resampled to the motion's rate; the body is looped (or cut) to the face's
        length, since speech and face captures set how long a clip is."""
        face = face.resample(self.fps)
        body = self.loop(len(face)) if len(face) != len(self) else self
        return Motion(body.poses, body.transl, self.fps, self.name, face)

    def frames(self, spec: str) -> Motion:
        """Frames selected by a half-open range "A:B" like a Python slice: "0:16", "10:", ":-5", ":"."""
        start, stop = parse_frame_range(spec)
        return self.slice(start, stop)

    def save(self, path: str | Path) -> Path:
        """Write the project's motion file atomically: .npz (poses F x 24 x 3, transl F x 3, fps, name, and the face
        keys of `face.py` when there is a face) or .json (the same, as lists; curves by name). Returns the path."""
        import json

        from dreamavatar.io import atomic_write

        path = Path(path)
        if path.suffix.lower() == ".json":
            doc = {"name": self.name, "fps": self.fps, "poses": self.poses.tolist(), "transl": self.transl.tolist()}
            doc.update({} if self.face is None else self.face.json_dict())
            return atomic_write(path, lambda f: f.write(json.dumps(doc).encode()))
        arrays = dict(poses=self.poses.numpy(), transl=self.transl.numpy(), fps=np.float64(self.fps),
                      name=np.array(self.name))  # fmt: skip
        arrays.update({} if self.face is None else self.face.arrays())
        return atomic_write(path, lambda f: np.savez(f, **arrays))


def still_motion(name: str = "still", fps: float = DEFAULT_FPS) -> Motion:
    """One frame of the canonical A-pose (the bind pose of exports), at the origin: a body that only talks."""
    from dreamavatar.body.skeleton import a_pose

    return Motion(a_pose(1), torch.zeros(1, 3), fps, name)


def parse_frame_range(spec: str) -> tuple[int | None, int | None]:
    """Parse "A:B" (either side may be empty, negative counts from the end) into (start, stop)."""
    parts = str(spec).strip().split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise UserError(
            f"bad frame range {spec!r}: write it as A:B like a Python slice, e.g. 0:16, 10:, :-5"
        ) from None
    return start, stop


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread inside: motion maths is many small ops, and on a busy machine waiting for a second
    intra-op thread costs far more than it saves (measured 20x slower with 2 threads under load)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)
