"""BVH files (CMU-, Mixamo-, Biovision/MotionBuilder- or Unreal-named skeletons) mapped onto SMPL's 24 joints.

Method: BVH forward kinematics gives each joint's world rotation relative to the file's rest pose (all channels
zero). The file's axes are found from its rest skeleton (up = hips -> head, left = right hip -> left hip), so y-up and
z-up files both work. Each mapped SMPL joint takes its BVH joint's world rotation, corrected by the rotation between
the two rest bone directions (a file in an A-pose still drives a T-pose skeleton correctly); SMPL local rotations
are then parent^-1 x child in world-aligned frames. Unmapped SMPL joints follow their parent. Translation is scaled
to metres by the ratio of the rest skeleton heights (head over feet) of skeleton.REST_JOINTS and the file.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import roma
import torch

from dreamavatar.body.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS, REST_JOINTS
from dreamavatar.errors import UserError
from dreamavatar.motion.ground import anchor_translation
from dreamavatar.motion.motion import Motion

log = logging.getLogger(__name__)

# BVH joint names that can drive each SMPL joint, best first, written for the left side: "{left}" is "left" or
# "right", "{l}" is "l" or "r" (a prefix or a suffix), in names lower-cased with the namespace ("mixamorig:"), "_",
# "." and " " removed. Schemes: CMU and Mixamo (LeftUpLeg, LeftLeg, LeftFoot, LeftShoulder = collar, LeftArm,
# LeftForeArm, LeftHand), Biovision / MotionBuilder (LeftHip, LeftKnee, LeftAnkle, LeftCollar, LeftShoulder = upper
# arm, LeftElbow, LeftWrist), Unreal's mannequin (thigh_l, calf_l, foot_l, ball_l, clavicle_l, upperarm_l,
# lowerarm_l, hand_l), 3ds Max Biped ("Bip01 L Thigh", ...). The same name can mean different joints in different
# schemes ("LeftShoulder"), so limbs are matched from the hand or foot inwards, each joint an ancestor of the one
# matched after it (`map_joints`). The spine joints are found along the chain from the hips to the neck.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "pelvis", "hip", "root", "bip01pelvis", "bip01"),
    "left_foot": ("{left}toebase", "{left}toe", "{l}toe", "{l}toes", "{left}toes", "ball{l}", "bip01{l}toe0"),
    "left_ankle": ("{left}foot", "{l}foot", "{left}ankle", "foot{l}", "bip01{l}foot"),
    "left_knee": ("{left}leg", "{l}shin", "{left}shin", "{left}knee", "{left}lowerleg", "calf{l}", "bip01{l}calf"),
    "left_hip": ("{left}upleg", "{l}thigh", "{left}thigh", "{l}upleg", "{left}hip", "{left}upperleg", "thigh{l}",
                 "bip01{l}thigh"),
    "neck": ("neck", "neck1", "neck01", "bip01neck"),
    "head": ("head", "bip01head"),
    "left_hand": ("{left}fingerbase", "{left}handmiddle1", "{left}handindex1", "{left}handfinger1", "middle01{l}",
                  "bip01{l}finger2", "bip01{l}finger0"),
    "left_wrist": ("{left}hand", "{l}hand", "{left}wrist", "hand{l}", "bip01{l}hand"),
    "left_elbow": ("{left}forearm", "{l}forearm", "{left}elbow", "{left}lowerarm", "lowerarm{l}", "bip01{l}forearm"),
    "left_shoulder": ("{left}arm", "{l}shldr", "{left}upperarm", "{l}humerus", "upperarm{l}", "bip01{l}upperarm",
                      "{left}shoulder", "{l}shoulder"),
    "left_collar": ("{left}collar", "{l}collar", "{left}shoulder", "{left}clavicle", "{l}clavicle", "clavicle{l}",
                    "bip01{l}clavicle"),
}  # fmt: skip
# Limbs from the end inwards: each joint must be an ancestor of the previous one in the file (when that one exists).
_CHAINS = (("left_foot", "left_ankle", "left_knee", "left_hip"),
           ("left_hand", "left_wrist", "left_elbow", "left_shoulder", "left_collar"))  # fmt: skip
# The joints whose absence breaks a motion visibly: a warning names them.
CORE_JOINTS = ("pelvis", "spine1", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_knee",
               "right_knee")  # fmt: skip
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
    frame_time_text: str = ""  # as written, for the exact rate

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
            end = tok.index("{", i + 1)  # a name may hold spaces ("Bip01 L Thigh")
            joints.append(BvhJoint(" ".join(tok[i + 1 : end]), parent, np.zeros(3)))
            stack.append(len(joints) - 1)
            i = end
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
    return Bvh(joints, values.reshape(frames, nchan), frame_time, tok[i + 5])


_CHANNELS = {f"{a}{k}" for a in "xyz" for k in ("position", "rotation")}


def _norm(name: str) -> str:
    """Lower case, no namespace ("mixamorig:", "mixamorig1_"), no "_", "." or " "."""
    n = name.split(":")[-1].split("|")[-1].lower()
    n = re.sub(r"^mixamorig\d*_?", "", n)
    return re.sub(r"[_. \-]", "", n)


def _spell(template: str, side: str) -> str:
    """A candidate template for one side: side "left" or "right"."""
    return template.replace("{left}", side).replace("{l}", side[0])


def _is_ancestor(bvh: Bvh, a: int, b: int) -> bool:
    """Whether joint a is a strict ancestor of joint b."""
    k = bvh.joints[b].parent
    while k >= 0:
        if k == a:
            return True
        k = bvh.joints[k].parent
    return False


def map_joints(bvh: Bvh) -> dict[int, int]:
    """SMPL joint index -> BVH joint index for every SMPL joint the file can drive."""
    names: dict[str, list[int]] = {}
    for k, j in enumerate(bvh.joints):
        names.setdefault(_norm(j.name), []).append(k)
    out: dict[int, int] = {}
    taken: set[int] = set()

    def find(smpl: str, side: str, below: int | None) -> int | None:
        """The first candidate joint for `smpl`, unused, and an ancestor of `below` when given."""
        for template in _CANDIDATES[smpl]:
            for k in names.get(_spell(template, side), []):
                if k not in taken and (below is None or _is_ancestor(bvh, k, below)):
                    return k
        return None

    for side in ("left", "right"):
        for chain in _CHAINS:
            below = None
            for smpl in chain:
                k = find(smpl, side, below)
                if k is not None:
                    out[JOINT_INDEX[smpl.replace("left", side)]] = k
                    taken.add(k)
                    below = k
    for smpl in ("pelvis", "head", "neck"):
        k = find(smpl, "left", None)
        if k is not None:
            out[JOINT_INDEX[smpl]] = k
            taken.add(k)
    if JOINT_INDEX["pelvis"] not in out:
        out[JOINT_INDEX["pelvis"]] = 0
    # Spine: the joints strictly between the hips and the neck, spread over SMPL's three spine joints.
    neck = out.get(JOINT_INDEX["neck"], out.get(JOINT_INDEX["head"]))
    if neck is not None:
        chain = []
        k = bvh.joints[neck].parent
        while k >= 0 and k != out[0]:
            chain.append(k)
            k = bvh.joints[k].parent
        chain.reverse()
        chain = [k for k in chain if k not in taken]
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
            "CMU, Mixamo, Biovision or Unreal joint names (Hips, LeftUpLeg or LeftHip, ..., Neck, Head)"
        )
    unmapped = [n for n in CORE_JOINTS if JOINT_INDEX[n] not in m]
    if unmapped:
        log.warning("motion file %s: no BVH joint drives SMPL %s (they follow their parents); the file's joints are "
                    "%s", path, ", ".join(unmapped), ", ".join(j.name for j in bvh.joints))  # fmt: skip
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
    return Motion(poses, anchor_translation(poses, transl), exact_rate(bvh.frame_time_text), path.stem)


# Frame rates in use (film, PAL, NTSC and their multiples, mocap): preferred when the written frame time allows them.
_COMMON_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(48),
                 Fraction(50), Fraction(60000, 1001), Fraction(60), Fraction(72), Fraction(90), Fraction(100),
                 Fraction(120), Fraction(240))  # fmt: skip


def exact_rate(frame_time: str) -> float:
    """Frames per second from a BVH's frame time as written. A short decimal is exact ("0.04" -> 25, "0.0123" ->
    81.30...); a long one is a rounded repeating decimal, read as the common rate or else the simplest ratio p / q
    (q <= 1001) whose frame time q / p rounds to the written digits: "0.0333333" -> 30, "0.0333667" -> 30000 / 1001."""
    text = frame_time.strip()
    exact = Fraction(text)
    mantissa = text.lower().split("e")[0].replace(".", "").replace("-", "").lstrip("0")
    if len(mantissa) < 5 or exact <= 0:
        return float(1 / exact) if exact > 0 else 1.0 / float(text)
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text.lower() else 9
    tol = Fraction(1, 2 * 10**decimals)
    for rate in _COMMON_RATES:
        if abs(1 / rate - exact) <= tol:
            return float(rate)
    for q in range(1, 1002):
        p = round(q / exact)
        if p > 0 and abs(Fraction(q, p) - exact) <= tol:
            return p / q
    return float(1 / exact)


def _height(rest: np.ndarray, m: dict[int, int]) -> float:
    """Rest height of the head (or neck) over the lowest mapped leg joint."""
    top = m.get(JOINT_INDEX["head"], m.get(JOINT_INDEX["neck"]))
    legs = [m[JOINT_INDEX[n]] for n in JOINT_NAMES if n.endswith(("knee", "ankle", "foot")) and JOINT_INDEX[n] in m]
    legs = legs or [m[JOINT_INDEX["left_hip"]]]
    return float(rest[top, 1] - rest[legs, 1].min())
