"""Keeping the avatar on its body under SDS: the rendered opacity against the body's silhouette, same camera and pose.

Score distillation from a small prior thins what is thin (arms, neck, head): nothing in its gradient asks for opacity
to stay where the body is, and stage 0's fit fades. Two squared terms, each a mean over all pixels so weights do not
depend on the image size:
    inside:  (1 - opacity)^2 on pixels the body covers         the body stays opaque (clothes may only add)
    outside: opacity^2 on pixels farther than `margin` from it  no haze far from the body
The band of `margin` metres (turned into pixels per camera at the body's distance) around the silhouette is free, so
clothes and hair can grow there; so are the silhouettes of the spec's loose-garment volumes (below the hips for skirts
and dresses, behind the back for capes, above the head for hats: `dreamavatar.field.loose`). Stage 0 fits the same
silhouettes; these terms keep them during stages 1 and 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dreamavatar.body.base import BodyOutput
from dreamavatar.run_config import ShapeConfig
from renderers.cameras import Cameras

__all__ = ["ShapeConfig", "body_masks", "shape_loss"]  # ShapeConfig lives with the run's config


def body_masks(cams: Cameras, out: BodyOutput, margin: float, loose=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Silhouettes of the posed body (`out` batch 1 or B, one pose per camera) and the pixels farther than `margin`
    metres from them and from the silhouettes of the loose-garment volumes (`loose`: a
    `dreamavatar.field.loose.LooseRegions` or None). -> (inside B x H x W bool, outside B x H x W bool), on the CPU
    (the rasteriser's device)."""
    from renderers.raster import rasterize

    cams = cams.to("cpu")
    verts = out.vertices.detach().float().cpu().expand(len(cams), -1, -1)
    inside = rasterize(verts, out.faces.cpu(), torch.ones(verts.shape[1], 3), cams, shading=False).mask
    allowed = inside
    if loose:
        cpu = out.to("cpu")
        pts = torch.stack([loose.posed(cpu, b % cpu.vertices.shape[0]) for b in range(len(cams))])
        allowed = inside | rasterize(pts, loose.faces, torch.ones(pts.shape[1], 3), cams, shading=False).mask
    # the margin in whole pixels at each camera's distance to the body
    pixels = torch.round(cams.focal * margin / (verts.mean(1) - cams.centers).norm(dim=-1)).clamp(min=0).long()
    outside = []
    for mask, k in zip(allowed, pixels.tolist()):
        near = F.max_pool2d(mask[None, None].float(), 2 * k + 1, stride=1, padding=k)[0, 0] > 0 if k > 0 else mask
        outside.append(~near)
    return inside, torch.stack(outside)


def shape_loss(
    opacity: torch.Tensor, inside: torch.Tensor, outside: torch.Tensor, w_inside: float, w_outside: float
) -> torch.Tensor:
    """w_inside * mean(inside * (1 - opacity)^2) + w_outside * mean(outside * opacity^2); opacity, masks B x H x W."""
    inside, outside = inside.to(opacity), outside.to(opacity)
    return w_inside * (inside * (1 - opacity) ** 2).mean() + w_outside * (outside * opacity**2).mean()
