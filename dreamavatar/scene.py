"""Multi-avatar scenes: several avatars, each with its own motion, position, facing and time offset, rendered into one
video with correct occlusion between them (samples of all avatars merged by depth and composited once), and the
skeleton image shows every avatar with cross-avatar occlusion.

Scene file (YAML; paths relative to the file):

    fps: 30                 # output frame rate (motions are resampled to it)
    frames: 90              # optional; absent or 0: the longest motion (after offsets)
    size: [640, 360]        # width, height (or one number), multiples of 16
    background: [1, 1, 1]   # RGB in [0, 1]
    skeleton: false         # put the skeleton image beside each frame
    camera:
      kind: orbit           # orbit | fixed
      radius: 5.0           # metres from the target
      elevation: 10.0       # degrees above the horizon
      azimuth: 0.0          # degrees (0 = in front of the avatars, who face +z at facing 0)
      turns: 0.25           # orbit: turns over the whole clip
      fov: 40.0             # vertical, degrees
      target: [0.0, 0.0, 0.0]
    avatars:
      - run: outputs/a-man-wearing-a-red-t-shirt
        motion: dance       # a built-in name or a motion file
        position: [-0.7, 0.0, 0.0]
        facing: 20.0        # degrees about +y
        offset: 0.0         # seconds: the avatar starts its motion this late (holds its first pose before)
        speech: talk.wav    # optional face inputs, as on the command line (see dreamavatar/face/inputs.py):
        transcript: null    #   speech + transcript, say (espeak-ng), emotion (NAME[:INTENSITY]), face (.csv/.json/.npz)
        say: null
        emotion: happy:0.5
        face: null

Each avatar's speech starts with its motion (at its offset) and all of them are mixed into the video's sound track.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from dreamavatar.errors import UserError


CAMERA_KINDS = ("orbit", "fixed")


@dataclass
class SceneCamera:
    kind: str = field(default="orbit", metadata={"choices": CAMERA_KINDS})
    radius: float = field(default=5.0, metadata={"gt": 0})
    elevation: float = field(default=10.0, metadata={"min": -90, "max": 90})
    azimuth: float = 0.0
    turns: float = 0.25
    fov: float = field(default=40.0, metadata={"gt": 0, "lt": 180})
    target: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0], metadata={"length": 3})


@dataclass
class SceneAvatar:
    run: str = ""
    motion: str = "idle"
    position: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0], metadata={"length": 3})
    facing: float = 0.0
    offset: float = field(default=0.0, metadata={"min": 0})
    motion_fps: Optional[float] = field(default=None, metadata={"gt": 0})  # for files that record no frame rate
    speech: Optional[str] = None  # face inputs (dreamavatar/face/inputs.py); paths relative to the scene file
    transcript: Optional[str] = None
    say: Optional[str] = None
    emotion: Optional[str] = None
    face: Optional[str] = None
    seed: int = 0

    def face_inputs(self):
        from dreamavatar.face.inputs import FaceInputs

        inputs = FaceInputs(self.speech, self.transcript, self.say, self.emotion, self.face, self.seed)
        inputs.check()
        return inputs


@dataclass
class SceneConfig:
    fps: float = field(default=30.0, metadata={"gt": 0})
    frames: Optional[int] = field(default=None, metadata={"min": 0})  # None or 0: the longest motion
    size: list[int] = field(default_factory=lambda: [512, 288])  # checked with `skeleton` in load_scene
    background: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0], metadata={"length": 3, "min": 0,
                                                                                         "max": 1})  # fmt: skip
    skeleton: bool = False
    bake: float = field(default=0.01, metadata={"min": 0})  # metres: grid cell of the baked field (0: no baking)
    camera: SceneCamera = field(default_factory=SceneCamera)
    avatars: list[SceneAvatar] = field(default_factory=list)


def load_scene(path: str | Path) -> SceneConfig:
    from omegaconf import OmegaConf

    from dreamavatar.config import load_config, read_yaml
    from renderers.memory import check_render_size

    path = Path(path)
    if not path.is_file():
        raise UserError(f"scene file {path} does not exist: give a YAML scene file (see examples/scene.yaml)")
    data = OmegaConf.to_container(read_yaml(path, "scene file"))
    if isinstance(data.get("size"), (int, float)):  # one number: a square
        data["size"] = [data["size"]]
    try:
        cfg = load_config(SceneConfig, layers=[data])
    except UserError as e:  # name the file in every message about its values
        raise UserError(str(e) if str(path) in str(e) else f"scene file {path}: {e}") from None
    if not cfg.avatars:
        raise UserError(f"scene file {path} lists no avatars: add at least one under `avatars:` with a `run:`")
    if len(cfg.size) not in (1, 2):
        raise UserError(f"scene file {path}: size {cfg.size} must be [width, height] (or one number): e.g. [640, 368]")
    size = cfg.size if len(cfg.size) == 2 else [cfg.size[0], cfg.size[0]]
    check_render_size(size[0], size[1], f"scene file {path}: size", multiple=16, panels=2 if cfg.skeleton else 1)
    cfg.size = list(size)
    for a in cfg.avatars:
        if not a.run:
            raise UserError(f"an avatar in {path} has no `run:`: give the folder of a `dreamavatar generate` run")
        if not Path(a.run).is_absolute():
            a.run = str((path.parent / a.run).resolve())
        motion_path = path.parent / a.motion
        if motion_path.exists():
            a.motion = str(motion_path.resolve())
        for key in ("speech", "face"):
            value = getattr(a, key)
            if value and not Path(value).is_absolute():
                setattr(a, key, str((path.parent / value).resolve()))
        try:
            a.face_inputs()
        except UserError as e:
            raise UserError(f"avatar {a.run} in {path}: {e}") from None
    return cfg


def placement(position: list[float], facing_deg: float) -> torch.Tensor:
    """World-from-avatar 4 x 4: rotation about +y by `facing_deg`, then translation."""
    c, s = math.cos(math.radians(facing_deg)), math.sin(math.radians(facing_deg))
    T = torch.eye(4)
    T[:3, :3] = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    T[:3, 3] = torch.tensor(position, dtype=torch.float32)
    return T


def scene_cameras(cfg: SceneConfig, n_frames: int):
    """One camera per frame: fixed, or orbiting `turns` times around the target over the clip."""
    from renderers.cameras import orbit_cameras

    c = cfg.camera
    turn = c.turns if c.kind == "orbit" else 0.0
    az = c.azimuth + 360.0 * turn * torch.arange(n_frames, dtype=torch.float32) / max(n_frames, 1)
    return orbit_cameras(c.radius, 90.0 - c.elevation, az, c.fov, (cfg.size[0], cfg.size[1]), tuple(c.target))


def frame_index(motion, t_seconds: float) -> int:
    """The motion's frame at time t (held at the ends)."""
    return min(max(int(round(t_seconds * motion.fps)), 0), len(motion) - 1)


def frame_pose(motion, t_seconds: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The motion's pose at time t (held at the ends): (1 x 24 x 3, 1 x 3)."""
    f = frame_index(motion, t_seconds)
    return motion.poses[f : f + 1], motion.transl[f : f + 1]


def render_scene(cfg: SceneConfig, progress: bool = True) -> tuple[Iterator[np.ndarray], int]:
    """Load the avatars and return (a generator of H x W x 3 uint8 frames, frame count)."""
    frames, n, _ = render_scene_with_sound(cfg, progress)
    return frames, n


def render_scene_with_sound(cfg: SceneConfig, progress: bool = True):
    """`render_scene` and the scene's sound: (frames, frame count, (samples, rate) or None when nobody speaks).
    Each avatar's face inputs drive its face; their speech is mixed, each starting at its avatar's offset."""
    from dreamavatar.avatar import load_avatar
    from dreamavatar.face.audio import mix
    from dreamavatar.face.inputs import apply_face
    from dreamavatar.motion import load_motion

    # the cheap checks first: every motion and face input, then the avatars (loading bakes each one)
    motions, sounds = [], []
    for a in cfg.avatars:
        motion, sound = apply_face(load_motion(a.motion, fps=a.motion_fps).resample(cfg.fps), a.face_inputs())
        motions.append(motion)
        if sound is not None:
            sounds.append((sound, a.offset))
    loaded = [load_avatar(a.run, bake=cfg.bake) for a in cfg.avatars]
    places = [placement(a.position, a.facing) for a in cfg.avatars]
    n = cfg.frames or max(len(m) + int(round(a.offset * cfg.fps)) for m, a in zip(motions, cfg.avatars))
    cams = scene_cameras(cfg, n)
    audio = None
    if sounds:
        mixed = mix(sounds, n / cfg.fps)
        audio = (mixed.samples, mixed.rate)
    return _frames(cfg, loaded, motions, places, cams, n, progress), n, audio


def _frames(cfg, loaded, motions, places, cams, n, progress) -> Iterator[np.ndarray]:
    from tqdm import tqdm

    from dreamavatar.condition import render_condition
    from dreamavatar.images import side_by_side, to_uint8
    from dreamavatar.render import render_placed

    bg = torch.tensor(cfg.background, dtype=torch.float32)
    for f in tqdm(range(n), desc="compose", file=sys.stderr, disable=not progress, ascii=True):
        placed, outs = [], []
        for la, m, T, a in zip(loaded, motions, places, cfg.avatars):
            k = frame_index(m, f / cfg.fps - a.offset)
            out = la.pose(m.poses[k : k + 1], m.transl[k : k + 1], m.face_pose(k))
            placed.append((la.posed(out), torch.linalg.inv(T)))
            outs.append(out)
        rgb = render_placed(cams[f], placed, bg)[0]
        if cfg.skeleton:
            rgb = side_by_side([rgb, render_condition(cams[f], outs, places)[0][0]])
        yield to_uint8(rgb)
