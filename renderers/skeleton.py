"""OpenPose skeleton images with occlusion: the condition images of the pose-conditioned prior.

Drawing follows the look that ControlNet-openpose was trained on: black canvas; each limb a filled ellipse between its
two keypoints (semi-minor axis 4 px at 512 px) in the limb's standard colour, blended over the canvas at 60 % opacity,
limbs drawn in the standard order; then opaque keypoint dots (radius 4 px at 512 px). Sizes scale with the image.

Occlusion: a face keypoint (nose, eyes, ears) is dropped when any surface of any body hides it from the
camera; a body keypoint only when another body's mesh hides it (self-occlusion ignored). "Hidden" means the keypoint's
distance from the camera exceeds the first surface hit along the ray towards it by more than a threshold (2 cm; 1.2 cm
for ears, which sit just under the skin). Keypoints behind the camera are dropped. A dropped keypoint draws neither its
dot nor its limbs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from renderers.cameras import Cameras, project
from renderers.errors import RenderError
from renderers.openpose import COLORS, EAR_KEYPOINTS, FACE_KEYPOINTS, LIMBS, NUM_KEYPOINTS
from renderers.raycast import camera_hit_depth, merge_meshes

_REF_SIZE = 512.0  # OpenPose's stroke sizes below are for a 512 px image
_LIMB_HALF_WIDTH = 4.0
_DOT_RADIUS = 4.0
_LIMB_ALPHA = 0.6
_MIN_HALF_WIDTH = 0.75  # keep limbs at least ~1.5 px wide on tiny images so they never vanish


@dataclass
class OcclusionConfig:
    """Thresholds (metres) of the occlusion test: keypoint distance minus first-hit distance above these hides it."""

    face_threshold: float = 0.02
    ear_threshold: float = 0.012
    body_threshold: float = 0.02
    near: float = 1e-3  # keypoints closer than this in front of the camera (or behind it) are dropped


def stroke_sizes(height: int, width: int) -> tuple[float, float]:
    """(limb half-width, dot radius) in pixels for an image size, scaled from OpenPose's 512 px look."""
    scale = min(height, width) / _REF_SIZE
    return max(_LIMB_HALF_WIDTH * scale, _MIN_HALF_WIDTH), max(_DOT_RADIUS * scale, _MIN_HALF_WIDTH)


def _box(cx: float, cy: float, r: float, H: int, W: int) -> tuple[int, int, int, int] | None:
    """Pixel rows/cols [y0, y1) x [x0, x1) whose centres may lie within r of (cx, cy); None if off the image."""
    x0, x1 = max(int(np.floor(cx - r)), 0), min(int(np.ceil(cx + r)) + 1, W)
    y0, y1 = max(int(np.floor(cy - r)), 0), min(int(np.ceil(cy + r)) + 1, H)
    return (y0, y1, x0, x1) if x0 < x1 and y0 < y1 else None


def _draw_limb(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, half_width: float, color: np.ndarray) -> None:
    """Blend a filled ellipse with its major axis from a to b (uv, pixels) into canvas (H x W x 3 float) in place."""
    H, W = canvas.shape[:2]
    mid, axis = (a + b) / 2, b - a
    half_len = max(float(np.linalg.norm(axis)) / 2, half_width)
    along = axis / (np.linalg.norm(axis) + 1e-12)
    box = _box(mid[0], mid[1], half_len, H, W)
    if box is None:
        return
    y0, y1, x0, x1 = box
    px = (np.arange(x0, x1) + 0.5 - mid[0])[None, :]  # broadcast rows x columns (cheaper than meshgrid)
    py = (np.arange(y0, y1) + 0.5 - mid[1])[:, None]
    s = px * along[0] + py * along[1]  # coordinate along the limb
    n = -px * along[1] + py * along[0]  # across it
    inside = (s / half_len) ** 2 + (n / half_width) ** 2 <= 1.0
    region = canvas[y0:y1, x0:x1]
    region[inside] = (1 - _LIMB_ALPHA) * region[inside] + _LIMB_ALPHA * color


def _draw_dot(canvas: np.ndarray, c: np.ndarray, radius: float, color: np.ndarray) -> None:
    """Paint an opaque disc of `radius` pixels centred at uv c into canvas in place."""
    box = _box(c[0], c[1], radius, *canvas.shape[:2])
    if box is None:
        return
    y0, y1, x0, x1 = box
    px = (np.arange(x0, x1) + 0.5 - c[0])[None, :]
    py = (np.arange(y0, y1) + 0.5 - c[1])[:, None]
    canvas[y0:y1, x0:x1][px**2 + py**2 <= radius**2] = color


def _as_list(x: np.ndarray | torch.Tensor | list | None, n_bodies: int) -> list:
    if x is None:
        return [None] * n_bodies
    if isinstance(x, (list, tuple)):
        return list(x)
    if x.ndim == 3 or (x.ndim == 2 and x.shape[-1] == NUM_KEYPOINTS):  # a stack of bodies
        return list(x)
    return [x]


def draw_openpose(
    keypoints_uv: np.ndarray | torch.Tensor | list,
    visible: np.ndarray | torch.Tensor | list | None,
    height: int,
    width: int,
    dtype: str = "uint8",
) -> np.ndarray:
    """Draw OpenPose skeletons of one or several bodies on a black canvas.

    keypoints_uv: 18 x 2 pixel coordinates (u right, v down; pixel centres at i + 0.5) or a list of them, one per
    body; visible: 18 bools (or a list, or None = all). Returns H x W x 3, uint8 in [0, 255] (dtype "uint8") or
    float32 in [0, 1] (dtype "float").
    """
    kps = [np.asarray(torch.as_tensor(k).detach().cpu(), dtype=np.float64) for k in _as_list(keypoints_uv, 1)]
    vis_in = _as_list(visible, len(kps))
    if len(vis_in) != len(kps):
        raise RenderError(f"got {len(kps)} keypoint sets but {len(vis_in)} visibility masks: give one per body")
    vis = []
    for k, v in zip(kps, vis_in):
        if k.shape != (NUM_KEYPOINTS, 2):
            raise RenderError(f"keypoints_uv must be {NUM_KEYPOINTS} x 2 per body, got {tuple(k.shape)}")
        v = np.ones(NUM_KEYPOINTS, bool) if v is None else np.asarray(torch.as_tensor(v).cpu(), dtype=bool)
        vis.append(v & np.isfinite(k).all(-1))
    half_width, radius = stroke_sizes(height, width)
    canvas = np.zeros((height, width, 3), np.float64)
    colors = np.asarray(COLORS, np.float64)
    for i, (ka, kb) in enumerate(LIMBS):
        for k, v in zip(kps, vis):
            if v[ka] and v[kb]:
                _draw_limb(canvas, k[ka], k[kb], half_width, colors[i])
    for j in range(NUM_KEYPOINTS):
        for k, v in zip(kps, vis):
            if v[j]:
                _draw_dot(canvas, k[j], radius, colors[j])
    if dtype == "uint8":
        return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return (canvas / 255.0).astype(np.float32)


def _ray_distances(cams: Cameras, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For world points B x N x 3: (pixel uv B x N x 2, optical-axis depth B x N, distance from the camera B x N)."""
    uv, z = project(points, cams)
    dist = (points - cams.centers.to(points)[:, None]).norm(dim=-1)
    return uv, z, dist


def keypoint_visibility(
    cams: Cameras,
    keypoints: list[torch.Tensor],
    meshes: list[tuple[torch.Tensor, torch.Tensor]],
    cfg: OcclusionConfig | None = None,
) -> list[torch.Tensor]:
    """Occlusion-aware visibility of every body's keypoints from every camera.

    cams: B cameras; keypoints: one B x 18 x 3 (world) per body; meshes: one (vertices B x V x 3 or V x 3, faces F x 3)
    per body, same order (an empty list disables occlusion). Returns one B x 18 bool per body.
    """
    cfg = cfg or OcclusionConfig()
    if meshes and len(meshes) != len(keypoints):
        raise RenderError(f"got {len(keypoints)} keypoint sets but {len(meshes)} meshes: give one mesh per body")
    face = torch.zeros(NUM_KEYPOINTS, dtype=torch.bool)
    face[list(FACE_KEYPOINTS)] = True
    thresh = torch.full((NUM_KEYPOINTS,), cfg.body_threshold)
    thresh[list(FACE_KEYPOINTS)] = cfg.face_threshold
    thresh[list(EAR_KEYPOINTS)] = cfg.ear_threshold
    face_idx = list(FACE_KEYPOINTS)
    out = []
    for j, kp in enumerate(keypoints):
        kp = kp.float().expand(len(cams), NUM_KEYPOINTS, 3)
        uv, z, dist = _ray_distances(cams, kp)
        visible = z > cfg.near
        if meshes:
            uv = torch.where(visible[..., None], uv, torch.zeros_like(uv))  # behind-camera points: any finite uv
            own = torch.full_like(dist, float("inf"))  # own mesh: only face keypoints care
            own[:, face_idx] = camera_hit_depth(cams, uv[:, face_idx], meshes[j][0].float(), meshes[j][1])
            others = torch.full_like(dist, float("inf"))
            if len(meshes) > 1:
                verts, faces = merge_meshes([m for i, m in enumerate(meshes) if i != j])
                others = camera_hit_depth(cams, uv, verts.float(), faces)
            hit = torch.where(face.to(own.device), torch.minimum(own, others), others)
            visible = visible & ~(dist - hit > thresh.to(dist))
        out.append(visible)
    return out


def render_skeletons(
    cams: Cameras,
    keypoints: list[torch.Tensor] | torch.Tensor,
    meshes: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    cfg: OcclusionConfig | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """OpenPose condition images of one or several bodies seen by B cameras, with occlusion.

    keypoints: one B x 18 x 3 (world) per body (or one tensor for a single body); meshes: one (vertices B x V x 3 or
    V x 3, faces F x 3) per body, or None for no occlusion. Returns (images B x 3 x H x W float in [0, 1] on the
    keypoints' device, visibility: one B x 18 bool per body). Drawing runs on the CPU (numpy).
    """
    if isinstance(keypoints, torch.Tensor):
        keypoints = [keypoints]
    visible = keypoint_visibility(cams, keypoints, meshes or [], cfg)
    uvs = [project(kp.float().expand(len(cams), NUM_KEYPOINTS, 3), cams)[0] for kp in keypoints]
    images = [
        draw_openpose([uv[b] for uv in uvs], [v[b] for v in visible], cams.height, cams.width, dtype="float")
        for b in range(len(cams))
    ]
    device = keypoints[0].device if keypoints else torch.device("cpu")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(device), visible


__all__ = ["OcclusionConfig", "draw_openpose", "keypoint_visibility", "render_skeletons", "stroke_sizes"]
