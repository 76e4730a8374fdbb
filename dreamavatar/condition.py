"""Condition images: body poses + cameras -> occlusion-aware OpenPose skeleton images (training, `sample`, `skeleton`).

Also the cameras that frame a body for the fixed views of the command line: front (azimuth 0, facing the body's
front), side (azimuth 90, the body's left), back (azimuth 180) and orbit (one full turn over a clip), level, at a
distance where the body fills `fill` of the image height, following the root translation horizontally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from dreamavatar.body.base import BodyModel, BodyOutput
from dreamavatar.errors import UserError
from prompts import VIEW_AZIMUTH
from renderers.cameras import Cameras, orbit_cameras
from renderers.skeleton import OcclusionConfig, render_skeletons

VIEWS: tuple[str, ...] = (*VIEW_AZIMUTH, "orbit")


@dataclass
class ConditionConfig:
    """How condition images are made: occlusion on/off and its thresholds."""

    occlusion: bool = True
    thresholds: OcclusionConfig = field(default_factory=OcclusionConfig)


@dataclass
class FramingConfig:
    """Fixed-view cameras: vertical field of view and the share of the image height the standing body fills."""

    fov_deg: float = 45.0
    fill: float = 0.8


def _placed(points: torch.Tensor, transform: torch.Tensor | None) -> torch.Tensor:
    """Apply a 4 x 4 (or B x 4 x 4) world-from-body transform to points B x N x 3."""
    if transform is None:
        return points
    T = transform.to(points)
    T = T.expand(points.shape[0], 4, 4) if T.dim() == 2 else T
    return points @ T[:, :3, :3].transpose(1, 2) + T[:, None, :3, 3]


def render_condition(
    cams: Cameras,
    bodies: BodyOutput | list[BodyOutput],
    transforms: list[torch.Tensor | None] | None = None,
    cfg: ConditionConfig | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Skeleton images of one or several posed bodies (each may carry a world-from-body 4 x 4 transform).

    cams: B cameras; bodies: BodyOutput(s) with batch B (or 1, broadcast). Returns (images B x 3 x H x W in [0, 1],
    visibility: one B x 18 bool per body). Every body's mesh occludes every other's keypoints; face keypoints are also
    hidden by their own body.
    """
    cfg = cfg or ConditionConfig()
    bodies = [bodies] if isinstance(bodies, BodyOutput) else list(bodies)
    transforms = transforms or [None] * len(bodies)
    if len(transforms) != len(bodies):
        raise UserError(f"got {len(bodies)} bodies but {len(transforms)} transforms: give one transform per body")
    B = len(cams)
    keypoints, meshes = [], []
    for out, T in zip(bodies, transforms):
        keypoints.append(_placed(out.keypoints.float(), T).expand(B, -1, 3))
        meshes.append((_placed(out.vertices.float(), T).expand(B, -1, 3), out.faces))
    return render_skeletons(cams, keypoints, meshes if cfg.occlusion else None, cfg.thresholds)


@torch.no_grad()
def condition_images(
    body: BodyModel,
    poses: torch.Tensor,
    cams: Cameras,
    transl: torch.Tensor | None = None,
    cfg: ConditionConfig | None = None,
) -> torch.Tensor:
    """Pose a body and draw its skeleton from each camera. poses: B x 24 x 3; transl: B x 3. Returns B x 3 x H x W."""
    return render_condition(cams, body(poses, transl), cfg=cfg)[0]


def body_extent(body: BodyModel) -> tuple[float, float]:
    """(height, vertical centre) of the body's canonical mesh in metres."""
    with torch.no_grad():
        y = body.canonical().vertices[0, :, 1]
    lo, hi = float(y.min()), float(y.max())
    return hi - lo, (hi + lo) / 2


def framing_radius(height: float, cfg: FramingConfig | None = None) -> float:
    """Camera distance at which an object `height` metres tall fills `cfg.fill` of the image height."""
    cfg = cfg or FramingConfig()
    return height / cfg.fill / (2 * math.tan(math.radians(cfg.fov_deg) / 2))


def view_azimuths(view: str, n: int) -> torch.Tensor:
    """Per-frame camera azimuths (degrees) of a named view; "orbit" makes one full turn over n frames."""
    if view == "orbit":
        return torch.arange(n, dtype=torch.float32) * (360.0 / max(n, 1))
    if view not in VIEW_AZIMUTH:
        raise UserError(f"unknown view {view!r}: use one of {', '.join(VIEWS)}")
    return torch.full((n,), VIEW_AZIMUTH[view])


def view_cameras(
    view: str,
    size: int,
    height: float,
    center_y: float,
    transl: torch.Tensor | None = None,
    n: int | None = None,
    cfg: FramingConfig | None = None,
) -> Cameras:
    """Level cameras of a named view framing a body `height` tall centred at `center_y`, one per frame.

    transl: F x 3 root translations (the camera follows x and z; vertical motion such as jumps stays visible).
    n: the frame count when transl is None. Returns F cameras of size x size pixels.
    """
    if transl is None:
        transl = torch.zeros(n or 1, 3)
    F = transl.shape[0]
    target = torch.stack([transl[:, 0], torch.full((F,), center_y), transl[:, 2]], -1).float()
    return azimuth_cameras(view_azimuths(view, F), size, height, center_y, target, cfg)


def azimuth_cameras(
    azimuths, size: int, height: float, center_y: float, target=None, cfg: FramingConfig | None = None
) -> Cameras:
    """Level cameras from `azimuths` (degrees, a sequence or F tensor) framing a body `height` tall centred at
    `center_y`, aimed at `target` (F x 3; default the point (0, center_y, 0)). Returns F cameras, size x size px."""
    cfg = cfg or FramingConfig()
    target = (0.0, center_y, 0.0) if target is None else target
    return orbit_cameras(framing_radius(height, cfg), 90.0, torch.as_tensor(azimuths, dtype=torch.float32),
                         cfg.fov_deg, size, target)  # fmt: skip


__all__ = [
    "ConditionConfig", "FramingConfig", "VIEWS", "VIEW_AZIMUTH", "render_condition", "condition_images",
    "body_extent", "framing_radius", "view_azimuths", "view_cameras",
]  # fmt: skip
