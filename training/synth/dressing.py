"""Procedural dressing: per-vertex colours of a body from an `Outfit`, by body region.

Regions come from the body's skinning weights over the 24 SMPL joints (which bone carries a vertex) and, along limbs,
from the vertex's position between the bone's joint and its child in the canonical pose (sleeve and leg lengths);
the waist is a height on the torso and hair is a cap of the head (plus the back of the neck and upper back for long
hair). Everything is computed once per body on the canonical mesh and holds for any pose (same vertex indices).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dreamavatar.body.base import BodyOutput
from dreamavatar.body.skeleton import JOINT_INDEX
from training.synth.captions import COLOR_RGB, SKIN_RGB, Outfit

_J = JOINT_INDEX
_LIMB_CHILD = {  # joint -> the child joint that ends its bone
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow", "left_elbow": "left_wrist",
    "right_elbow": "right_wrist", "left_hip": "left_knee", "right_hip": "right_knee", "left_knee": "left_ankle",
    "right_knee": "right_ankle",
}  # fmt: skip
_TORSO = ("pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar")

# How far down each garment reaches along a limb bone (0 = the bone's joint, 1 = its child joint).
SLEEVE_UPPER = {"t-shirt": 0.5, "long-sleeved": 1.01, "tank": 0.0}
SLEEVE_FORE = {"t-shirt": 0.0, "long-sleeved": 0.97, "tank": 0.0}
LEG_THIGH = {"trousers": 1.01, "shorts": 0.5, "skirt": 1.01}
LEG_SHIN = {"trousers": 0.9, "shorts": 0.0, "skirt": 0.0}
SHOE_SHIN = 0.9  # shoes cover the shin from here down


@dataclass
class BodyRegions:
    """Per-vertex facts of one body (V vertices), from its canonical pose.

    joint: V long, the SMPL joint that carries most of the vertex; along: V in [0, 1], position along that joint's
    bone (0 off limbs); upper: V bool, above the waist; hair_short / hair_long: V bool, hair caps.
    """

    joint: torch.Tensor
    along: torch.Tensor
    upper: torch.Tensor
    hair_short: torch.Tensor
    hair_long: torch.Tensor


def body_regions(canonical: BodyOutput) -> BodyRegions:
    """Regions of a body from its canonical output (B = 1)."""
    v, J, w = canonical.vertices[0], canonical.joints[0], canonical.weights
    joint = w.argmax(1)
    along = torch.zeros(v.shape[0], dtype=v.dtype, device=v.device)
    for name, child in _LIMB_CHILD.items():
        sel = joint == _J[name]
        a, b = J[_J[name]], J[_J[child]]
        along[sel] = ((v[sel] - a) @ (b - a) / (b - a).square().sum()).clamp(0, 1)
    waist_y = J[_J["pelvis"]][1] + 0.6 * (J[_J["spine1"]][1] - J[_J["pelvis"]][1])
    upper = v[:, 1] > waist_y

    head = joint == _J["head"]
    hv = v[head]
    y_lo, y_hi = hv[:, 1].min(), hv[:, 1].max()
    z_lo, z_hi = hv[:, 2].min(), hv[:, 2].max()
    y_rel = (v[:, 1] - y_lo) / (y_hi - y_lo)
    z_rel = (v[:, 2] - z_lo) / (z_hi - z_lo)
    hair_short = head & ((y_rel > 0.72) | ((z_rel < 0.45) & (y_rel > 0.35)) | ((z_rel < 0.6) & (y_rel > 0.6)))
    neck_z = J[_J["neck"]][2]
    shoulder_y = 0.5 * (J[_J["left_shoulder"]][1] + J[_J["right_shoulder"]][1])
    behind = (v[:, 2] < neck_z - 0.03) & (v[:, 0].abs() < 0.13) & (v[:, 1] > shoulder_y - 0.17)
    back_of_head = head & (z_rel < 0.55) & (y_rel > 0.15)
    hair_long = hair_short | back_of_head | (behind & (joint != _J["left_shoulder"]) & (joint != _J["right_shoulder"]))
    return BodyRegions(joint, along, upper, hair_short, hair_long)


def _on(r: BodyRegions, names: tuple[str, ...]) -> torch.Tensor:
    return torch.isin(r.joint, torch.tensor([_J[n] for n in names], device=r.joint.device))


def top_mask(r: BodyRegions, kind: str) -> torch.Tensor:
    """Vertices a top of `kind` covers: the torso above the waist, plus sleeves."""
    m = _on(r, _TORSO) & r.upper
    m |= _on(r, ("left_shoulder", "right_shoulder")) & (r.along < SLEEVE_UPPER[kind])
    m |= _on(r, ("left_elbow", "right_elbow")) & (r.along < SLEEVE_FORE[kind])
    return m


def bottom_mask(r: BodyRegions, kind: str) -> torch.Tensor:
    """Vertices a bottom of `kind` covers: the torso below the waist, plus the legs down to its length."""
    m = _on(r, _TORSO) & ~r.upper
    m |= _on(r, ("left_hip", "right_hip")) & (r.along < LEG_THIGH[kind])
    m |= _on(r, ("left_knee", "right_knee")) & (r.along < LEG_SHIN[kind])
    return m


def shoes_mask(r: BodyRegions) -> torch.Tensor:
    return _on(r, ("left_ankle", "right_ankle", "left_foot", "right_foot")) | (
        _on(r, ("left_knee", "right_knee")) & (r.along >= SHOE_SHIN)
    )


def hair_mask(r: BodyRegions, kind: str) -> torch.Tensor:
    if kind == "bald":
        return torch.zeros_like(r.upper)
    return r.hair_long if kind == "long" else r.hair_short


def vertex_colors(r: BodyRegions, outfit: Outfit) -> torch.Tensor:
    """V x 3 albedo of a dressed body (skin, then bottom, top, shoes, hair painted over it)."""
    V = r.joint.shape[0]
    col = torch.tensor(SKIN_RGB[outfit.skin]).expand(V, 3).clone()
    for mask, name in (
        (bottom_mask(r, outfit.bottom_kind), outfit.bottom_color),
        (top_mask(r, outfit.top_kind), outfit.top_color),
        (shoes_mask(r), outfit.shoes_color),
        (hair_mask(r, outfit.hair_kind), outfit.hair_color),
    ):
        col[mask.cpu()] = torch.tensor(COLOR_RGB[name])
    return col
