"""Where things are on one canonical body: per-vertex body parts and coordinates, and the measurements garments are
built from. Computed once per pool body on its canonical (A-pose, world frame: y up, facing +z) mesh; vertex
indices are the same in every pose, so the masks hold for any pose.

Coordinates (the spec's conventions, `prompts.spec.KindInfo`):
    arm    0 at the shoulder joint, 1 at the wrist (arc length along shoulder -> elbow -> wrist); > 1 on the hand
    leg    0 at the hip joint, 1 at the ankle (hip -> knee -> ankle); > 1 on the foot
    sleeves s cover arm < s; a leg length l covers leg < l (0 = at the hips, 1 = at the ankles).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dreamavatar.body.skeleton import JOINT_INDEX as J

_ARM = {side: [J[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist", "hand")] for side in ("left", "right")}
_LEG = {side: [J[f"{side}_{n}"] for n in ("hip", "knee", "ankle", "foot")] for side in ("left", "right")}
TORSO_JOINTS = [J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar")]
ENV_DIRS = 32
ENV_STEP = 0.02


def directions(n: int = ENV_DIRS) -> torch.Tensor:
    """n unit vectors (x, z) at angles 2 pi k / n from +z towards +x (the body's front, then its left). n x 2."""
    th = torch.arange(n) * (2 * torch.pi / n)
    return torch.stack([torch.sin(th), torch.cos(th)], -1)


@dataclass
class BodyFacts:
    """Per-vertex facts (V) and measurements of one canonical body.

    part: V long: 0 torso, 1 arm, 2 hand, 3 leg, 4 foot, 5 neck, 6 head; arm, leg: V coordinates (module docstring,
    -1 off the limb); side: V +1 left / -1 right / 0 midline; scalp, face, back_head: V bool on the head.
    y_waist, y_hip_line, y_shoulder, y_neck: heights; head_center 3, head_radii 3 (half extents), head_top: height.
    """

    vertices: torch.Tensor
    normals: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor
    part: torch.Tensor
    arm: torch.Tensor
    leg: torch.Tensor
    side: torch.Tensor
    scalp: torch.Tensor
    face: torch.Tensor
    back_head: torch.Tensor
    y_waist: float
    y_shoulder: float
    y_neck: float
    head_center: torch.Tensor
    head_radii: torch.Tensor
    head_top: float
    shoulder_half: float  # half the distance between the shoulder joints
    # Envelope of the torso and legs (no arms) in horizontal slices every 2 cm from the neck down to the soles:
    env_y: torch.Tensor  # R heights, top to bottom
    env_h: torch.Tensor  # R x ENV_DIRS support (max of (p - centre) . u(theta)), theta = 2 pi k / ENV_DIRS from +z
    env_back: torch.Tensor  # R, the backmost z of the slice within the shoulders' width
    z_center: float  # the axis of the slices: x = 0, z = the pelvis's z

    @property
    def torso(self) -> torch.Tensor:
        return self.part == 0


def _polyline_coord(p: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Arc-length coordinate of points p (N x 3) projected on the polyline pts (K x 3), scaled so pts[-2] -> 1 and
    continued past it (the last segment is the hand or foot)."""
    seg = pts[1:] - pts[:-1]
    lens = seg.norm(dim=1)
    cum = torch.cat([torch.zeros(1), lens.cumsum(0)])
    total = cum[-2]
    best_d = torch.full((p.shape[0],), float("inf"))
    best_s = torch.zeros(p.shape[0])
    for k in range(seg.shape[0]):
        t = ((p - pts[k]) @ seg[k] / lens[k].square()).clamp(0 if k else -1, 1 if k < seg.shape[0] - 1 else 2)
        d = (p - (pts[k] + t[:, None] * seg[k])).norm(dim=1)
        better = d < best_d
        best_d = torch.where(better, d, best_d)
        best_s = torch.where(better, cum[k] + t * lens[k], best_s)
    return best_s / total


def body_facts(vertices: torch.Tensor, faces: torch.Tensor, joints: torch.Tensor, keypoints: torch.Tensor,
               weights: torch.Tensor) -> BodyFacts:  # fmt: skip
    """Facts of a canonical body: vertices V x 3, faces F x 3, joints 24 x 3, keypoints 18 x 3, weights V x 24."""
    from renderers.raster import vertex_normals

    v = vertices
    normals = vertex_normals(v[None], faces)[0]
    owner = weights.argmax(1)
    part = torch.zeros(v.shape[0], dtype=torch.long)
    arm = torch.full((v.shape[0],), -1.0)
    leg = torch.full((v.shape[0],), -1.0)
    for side in ("left", "right"):
        a = torch.isin(owner, torch.tensor(_ARM[side]))
        arm[a] = _polyline_coord(v[a], joints[_ARM[side]])
        l_ = torch.isin(owner, torch.tensor(_LEG[side]))
        leg[l_] = _polyline_coord(v[l_], joints[_LEG[side]])
        part[a] = torch.where(arm[a] > 1.0, 2, 1)
        part[l_] = torch.where(leg[l_] > 1.0, 4, 3)
    part[owner == J["neck"]] = 5
    head = owner == J["head"]
    part[head] = 6
    side = torch.sign(v[:, 0]) * (v[:, 0].abs() > 0.01)

    y_waist = float(joints[J["pelvis"], 1] + 0.6 * (joints[J["spine1"], 1] - joints[J["pelvis"], 1]))
    y_shoulder = float((joints[J["left_shoulder"], 1] + joints[J["right_shoulder"], 1]) / 2)
    y_neck = float(joints[J["neck"], 1])
    hv_head = v[head]
    lo, hi = hv_head.amin(0), hv_head.amax(0)
    lo = torch.stack([lo[0], torch.maximum(lo[1], hi[1] - 1.25 * (hi[0] - lo[0])), lo[2]])
    center, radii = (lo + hi) / 2, (hi - lo) / 2
    rel = (v - center) / radii  # head-relative coordinates, about -1..1 over the head
    # scalp: above the brow in front, down to the nape at the back; face: the front below the brow
    scalp = head & ((rel[:, 1] > 0.2 + 0.25 * rel[:, 2].clamp(min=0)) | ((rel[:, 2] < -0.25) & (rel[:, 1] > -0.55)))
    face = head & ~scalp & (rel[:, 2] > 0.1)
    back_head = head & (rel[:, 2] < 0.0) & (rel[:, 1] > -0.8)
    # slices of the torso, neck and legs for skirts, coats and capes
    z_center = float(joints[J["pelvis"], 2])
    trunk = (part == 0) | (part == 3) | (part == 4) | (part == 5)
    tv = v[trunk]
    env_y = torch.arange(y_neck, float(tv[:, 1].min()) - ENV_STEP, -ENV_STEP)
    u = directions()
    rel_xz = torch.stack([tv[:, 0], tv[:, 2] - z_center], -1)
    proj = rel_xz @ u.T  # N x D
    shoulder_half = float((joints[J["left_shoulder"], 0] - joints[J["right_shoulder"], 0]).abs() / 2)
    env_h = torch.full((len(env_y), u.shape[0]), 0.02)
    env_back = torch.full((len(env_y),), z_center)
    for r, y in enumerate(env_y.tolist()):
        band = (tv[:, 1] - y).abs() <= ENV_STEP * 1.25
        if band.any():
            env_h[r] = proj[band].amax(0).clamp(min=0.02)
            inner = band & (tv[:, 0].abs() < shoulder_half)
            if inner.any():
                env_back[r] = tv[inner, 2].min()
    return BodyFacts(
        vertices=v, normals=normals, joints=joints, keypoints=keypoints, part=part, arm=arm, leg=leg, side=side,
        scalp=scalp, face=face, back_head=back_head, y_waist=y_waist, y_shoulder=y_shoulder, y_neck=y_neck,
        head_center=center, head_radii=radii, head_top=float(hi[1]), shoulder_half=shoulder_half,
        env_y=env_y, env_h=env_h, env_back=env_back, z_center=z_center,
    )  # fmt: skip

    
def env_row(f: BodyFacts, y: float) -> int:
    """Index of the envelope slice nearest height y."""
    return int(min(max(round((f.env_y[0].item() - y) / ENV_STEP), 0), len(f.env_y) - 1))
