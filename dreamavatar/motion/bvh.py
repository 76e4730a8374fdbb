"""BVH files (CMU-, Mixamo- or similarly named skeletons) mapped onto SMPL's 24 joints.

Method: BVH forward kinematics gives each joint's world rotation relative to the file's rest pose (all channels
zero). The file's axes are found from its rest skeleton (up = hips -> head, left = right hip -> left hip), so y-up and
z-up files both work. Each mapped SMPL joint takes its BVH joint's world rotation, corrected by the rotation between
the two rest bone directions (a file in an A-pose still drives a T-pose skeleton correctly); SMPL local rotations
are then parent^-1 x child in world-aligned frames. Unmapped SMPL joints follow their parent. Translation is scaled
to metres by the ratio of the rest skeleton heights (head over feet) of skeleton.REST_JOINTS and the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import roma
import torch

from dreamavatar.body.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS, REST_JOINTS
from dreamavatar.errors import UserError
from dreamavatar.motion.ground import anchor_translation
from dreamavatar.motion.motion import Motion

# BVH joint names (lower case, no namespace, no "_" or " ") that can drive each SMPL joint, best first. The spine
# joints are found along the chain from the hips to the neck instead.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "pelvis", "hip", "root"),
    "left_hip": ("leftupleg", "lthigh", "leftthigh", "lupleg", "lefthip", "leftupperleg"),
    "left_knee": ("leftleg", "lshin", "leftshin", "leftknee", "leftlowerleg"),
    "left_ankle": ("leftfoot", "lfoot", "leftankle"),
    "left_foot": ("lefttoebase", "lefttoe", "ltoe", "ltoes", "lefttoes"),
    "neck": ("neck", "neck1"),
    "head": ("head",),
    "left_collar": ("leftshoulder", "lcollar", "leftcollar", "lclavicle", "leftclavicle"),
    "left_shoulder": ("leftarm", "lshldr", "leftupperarm", "lhumerus", "lshoulder"),
    "left_elbow": ("leftforearm", "lforearm", "leftelbow", "leftlowerarm"),
    "left_wrist": ("lefthand", "lhand", "leftwrist"),
    "left_hand": ("leftfingerbase", "lefthandindex1", "lefthandmiddle1", "lefthandfinger1"),
}
# Child whose rest direction defines each SMPL joint's bone (for the rest-pose correction).
_BONE_CHILD = {
    "left_hip": "left_knee", "left_knee": "left_ankle", "left_ankle": "left_foot", "spine1": "spine2",
    "spine2": "spine3", "spine3": "neck", "neck": "head", "left_collar": "left_shoulder",
    "left_shoulder": "left_elbow", "left_elbow": "left_wrist", "left_wrist": "left_hand",
}  # fmt: skip


@dataclass
class BvhJoint:
    name: str
    parent: int
    offset: np.ndarray  # 3
    channels: list[str] = field(default_factory=list)
    channel_start: int = 0


@dataclass
class Bvh:
    """A parsed BVH file: joints in file order (parents first), F x C channel values, seconds per frame."""

    joints: list[BvhJoint]
    values: np.ndarray  # F x C
    frame_time: float

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """World rotations F x J x 3 x 3 (relative to the rest pose) and positions F x J x 3, in the file's axes."""
        F = self.values.shape[0]
        rots = np.zeros((F, len(self.joints), 3, 3))
        pos = np.zeros((F, len(self.joints), 3))
        for j, jt in enumerate(self.joints):
            local = np.broadcast_to(np.eye(3), (F, 3, 3)).copy()
            offset = np.broadcast_to(jt.offset, (F, 3)).copy()
            for c, ch in enumerate(jt.channels):
                v = self.values[:, jt.channel_start + c]
                axis = "xyz".index(ch[0].lower())
                if ch[1:].lower() == "position":
                    offset[:, axis] = v
                else:  # channels compose left to right: R = R1 @ R2 @ R3 in the listed order
                    local = local @ _axis_rotation(axis, np.deg2rad(v))
            if jt.parent < 0:
                rots[:, j], pos[:, j] = local, offset
            else:
                rots[:, j] = rots[:, jt.parent] @ local
                pos[:, j] = pos[:, jt.parent] + (rots[:, jt.parent] @ offset[..., None])[..., 0]
        return rots, pos

    def rest_positions(self) -> np.ndarray:
        """J x 3 joint positions with every channel zero (offsets only)."""
        pos = np.zeros((len(self.joints), 3))
        for j, jt in enumerate(self.joints):
            pos[j] = jt.offset + (pos[jt.parent] if jt.parent >= 0 else 0)
        return pos


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotations about one coordinate axis, angle: F radians -> F x 3 x 3."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros(angle.shape + (3, 3))
    i, k = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1
    R[..., i, i], R[..., i, k], R[..., k, i], R[..., k, k] = c, -s, s, c
    return R


def parse_bvh(path: Path) -> Bvh:
    """Parse a BVH file's HIERARCHY and MOTION sections."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise UserError(f"motion file {path} cannot be read ({e}): check the path and permissions") from None
    try:
        return _parse(text.split())
    except (ValueError, IndexError) as e:
        raise UserError(f"motion file {path} is not a valid BVH ({e}): give a BVH with HIERARCHY and MOTION") from None


def _parse(tok: list[str]) -> Bvh:
    if not tok or tok[0].upper() != "HIERARCHY":
        raise ValueError("no HIERARCHY header")
    joints: list[BvhJoint] = []
    stack: list[int] = []  # open joints; -2 marks an End Site block
    nchan = 0
    i = 1
    while i < len(tok):
        t = tok[i].upper()
        if t in ("ROOT", "JOINT"):
            parent = next((s for s in reversed(stack) if s >= 0), -1)
            if t == "JOINT" and parent < 0:
                raise ValueError("JOINT outside ROOT")
            joints.append(BvhJoint(tok[i + 1], parent, np.zeros(3)))
            stack.append(len(joints) - 1)
            i += 2
        elif t == "END":
            stack.append(-2)
            i += 2
        elif t == "{":
            i += 1
        elif t == "}":
            stack.pop()
            i += 1
        elif t == "OFFSET":
            if stack[-1] >= 0:
                joints[stack[-1]].offset = np.array([float(x) for x in tok[i + 1 : i + 4]])
            i += 4
        elif t == "CHANNELS":
            n = int(tok[i + 1])
            chans = tok[i + 2 : i + 2 + n]
            bad = [c for c in chans if c.lower() not in _CHANNELS]
            if bad:
                raise ValueError(f"unknown channel {bad[0]}")
            joints[stack[-1]].channels = chans
            joints[stack[-1]].channel_start = nchan
            nchan += n
            i += 2 + n
        elif t == "MOTION":
            break
        else:
            raise ValueError(f"unexpected token {tok[i]!r}")
    if not joints or i >= len(tok):
        raise ValueError("no joints or no MOTION section")
    if tok[i + 1].rstrip(":").lower() != "frames" or " ".join(tok[i + 3 : i + 5]).lower() != "frame time:":
        raise ValueError("MOTION must start with 'Frames: N' and 'Frame Time: T'")
    frames, frame_time = int(tok[i + 2]), float(tok[i + 5])
    values = np.array([float(x) for x in tok[i + 6 :]], dtype=np.float64)
    if values.size != frames * nchan:
        raise ValueError(f"{values.size} values for {frames} frames of {nchan} channels")
    if frame_time <= 0:
        raise ValueError(f"frame time {frame_time}")
    return Bvh(joints, values.reshape(frames, nchan), frame_time)


_CHANNELS = {f"{a}{k}" for a in "xyz" for k in ("position", "rotation")}


def _norm(name: str) -> str:
    return name.split(":")[-1].lower().replace("_", "").replace(" ", "")


def _to_right(name: str) -> str:
    """The right-side spelling of a left-side candidate name ("leftarm" -> "rightarm", "lthigh" -> "rthigh")."""
    return "right" + name[4:] if name.startswith("left") else "r" + name[1:]


def map_joints(bvh: Bvh) -> dict[int, int]:
    """SMPL joint index -> BVH joint index for every SMPL joint the file can drive."""
    names = {_norm(j.name): k for k, j in reversed(list(enumerate(bvh.joints)))}
    out: dict[int, int] = {}
    for smpl, cands in _CANDIDATES.items():
        sides = [(smpl, cands)]
        if smpl.startswith("left_"):
            sides.append((smpl.replace("left_", "right_"), tuple(_to_right(c) for c in cands)))
        for target, names_wanted in sides:
            found = next((names[c] for c in names_wanted if c in names), None)
            if found is not None:
                out[JOINT_INDEX[target]] = found
    if JOINT_INDEX["pelvis"] not in out:
        out[JOINT_INDEX["pelvis"]] = 0
    # Spine: the joints strictly between the hips and the neck, spread over SMPL's three spine joints.
    neck = out.get(JOINT_INDEX["neck"])
    if neck is not None:
        chain = []
        k = bvh.joints[neck].parent
        while k >= 0 and k != out[0]:
            chain.append(k)
            k = bvh.joints[k].parent
        chain.reverse()
        if chain:
            picks = np.unique(np.round(np.linspace(0, len(chain) - 1, min(3, len(chain)))).astype(int))
            spine = ["spine1", "spine3"] if len(picks) == 2 else ["spine1", "spine2", "spine3"][: len(picks)]
            for name, p in zip(spine, picks):
                out[JOINT_INDEX[name]] = chain[p]
    return out


def _body_frame(rest: np.ndarray, m: dict[int, int]) -> np.ndarray:
    """Orthonormal rows (left, up, forward) of a rest skeleton, from its hips and head (or neck)."""
    top = JOINT_INDEX["head"] if JOINT_INDEX["head"] in m else JOINT_INDEX["neck"]
    up = rest[m[top]] - rest[m[0]]
    left = rest[m[JOINT_INDEX["left_hip"]]] - rest[m[JOINT_INDEX["right_hip"]]]
    up = up / np.linalg.norm(up)
    left = left - up * (left @ up)
    left = left / np.linalg.norm(left)
    return np.stack([left, up, np.cross(left, up)])


def _frame_axes(rest: np.ndarray, m: dict[int, int]) -> np.ndarray:
    """3 x 3 rotation taking the file's axes to the world's: the file's body frame onto REST_JOINTS' body frame."""
    smpl = _body_frame(REST_JOINTS.double().numpy(), {k: k for k in m})
    return smpl.T @ _body_frame(rest, m)


def _rest_correction(d_smpl: np.ndarray, d_file: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction d_smpl onto d_file (3 x 3)."""
    a, b = d_smpl / np.linalg.norm(d_smpl), d_file / np.linalg.norm(d_file)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-8:
        return np.eye(3) if c > 0 else _axis_rotation(0, np.array(math.pi))  # opposite: any half-turn
    return roma.rotvec_to_rotmat(torch.from_numpy(axis / s * math.atan2(s, c))).numpy()


def load_bvh(path: Path) -> Motion:
    """Load a BVH file as a Motion at the file's frame rate (see the module docstring for the mapping)."""
    bvh = parse_bvh(path)
    m = map_joints(bvh)
    need = ["left_hip", "right_hip"]
    if not any(JOINT_INDEX[n] in m for n in ("head", "neck")):
        need.append("head")
    missing = [n for n in need if JOINT_INDEX[n] not in m]
    if missing:
        raise UserError(
            f"motion file {path}: no BVH joint for SMPL {', '.join(missing)}; expected a human skeleton with "
            "CMU or Mixamo joint names (Hips, LeftUpLeg, RightUpLeg, ..., Neck, Head)"
        )
    rest = bvh.rest_positions()
    C = _frame_axes(rest, m)
    rest_w = rest @ C.T
    rots, pos = bvh.forward_kinematics()
    F = rots.shape[0]

    # World rotation of each SMPL joint: file rotation in world axes x rest-direction correction.
    W = np.zeros((F, 24, 3, 3))
    rest_smpl = REST_JOINTS.double().numpy()
    for j, name in enumerate(JOINT_NAMES):
        if j not in m:
            W[:, j] = W[:, PARENTS[j]] if PARENTS[j] >= 0 else np.eye(3)
            continue
        G = C @ rots[:, m[j]] @ C.T
        child = _BONE_CHILD.get(name.replace("right_", "left_"))
        child = child and JOINT_INDEX[child.replace("left_", "right_") if name.startswith("right_") else child]
        if child is not None and child in m:
            corr = _rest_correction(rest_smpl[child] - rest_smpl[j], rest_w[m[child]] - rest_w[m[j]])
            G = G @ corr
        W[:, j] = G
    local = np.zeros_like(W)
    for j, p in enumerate(PARENTS):
        local[:, j] = W[:, j] if p < 0 else np.swapaxes(W[:, p], -1, -2) @ W[:, j]
    poses = roma.rotmat_to_rotvec(torch.from_numpy(local))

    height_smpl = _height(rest_smpl, {k: k for k in m})
    height_file = _height(rest_w, m)
    if height_file <= 1e-9:
        raise UserError(f"motion file {path}: the rest skeleton has no height; expected a standing human skeleton")
    transl = torch.from_numpy(pos[:, m[0]] @ C.T * (height_smpl / height_file))
    return Motion(poses, anchor_translation(poses, transl), 1.0 / bvh.frame_time, path.stem)


def _height(rest: np.ndarray, m: dict[int, int]) -> float:
    """Rest height of the head (or neck) over the lowest mapped leg joint."""
    top = m.get(JOINT_INDEX["head"], m.get(JOINT_INDEX["neck"]))
    legs = [m[JOINT_INDEX[n]] for n in JOINT_NAMES if n.endswith(("knee", "ankle", "foot")) and JOINT_INDEX[n] in m]
    legs = legs or [m[JOINT_INDEX["left_hip"]]]
    return float(rest[top, 1] - rest[legs, 1].min())
