"""The rendering floor: a posed avatar -> its body-guided sampler -> images, shared by training (`generate`, stage 0)
and inference (`animate`, `compose`, `export`).

One place for the ray bounds and chunking. Rays are always clipped to the posed body's occupancy box, so `FAR` only
bounds what the box does not; `NEAR` keeps the first samples off the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from dreamavatar.body.base import BodyOutput
from dreamavatar.field.avatar import AvatarField, PosedAvatar
from dreamavatar.field.bake import BakedField
from renderers.cameras import Cameras
from renderers.samplers import OccupancySampler

NEAR = 0.05  # metres from the camera
FAR = 100.0  # metres; rays end at the posed body's box long before
CHUNK = 16384  # camera rays rendered at once (bounds memory)

BackgroundFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PosedRender:
    """A posed avatar ready to render: its field, the body-guided sampler of its occupancy grid, and the grid's box
    (2 x 3, metres)."""

    field: PosedAvatar
    sampler: OccupancySampler
    aabb: torch.Tensor


def posed_render(
    avatar: AvatarField, out: BodyOutput, index: int = 0, ray_step: float = 0.01,
    baked: Optional[BakedField] = None,
) -> PosedRender:  # fmt: skip
    """Pose the avatar as body `index` of `out` and build its sampler (samples every `ray_step` metres)."""
    posed = avatar.posed(out, index, baked=baked)
    grid = posed.occupancy()
    return PosedRender(posed, OccupancySampler(grid, step=ray_step), grid.aabb)


def render_rays(pr: PosedRender, origins: torch.Tensor, dirs: torch.Tensor, perturb: bool = False) -> dict:
    """Render rays (origins, unit dirs: R x 3) through a posed avatar, no background (see `renderers.volume`)."""
    from renderers.volume import render_rays as _render_rays

    return _render_rays(origins, dirs, pr.field, pr.sampler, near=NEAR, far=FAR, aabb=pr.aabb, perturb=perturb)


def render_avatar(
    avatar: AvatarField,
    out: BodyOutput,
    cams: Cameras,
    background: BackgroundFn | torch.Tensor | None,
    ray_step: float,
    perturb: bool = False,
    baked: Optional[BakedField] = None,
    chunk: int = CHUNK,
    early_stop: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Render B cameras of a posed body (`out` has batch B, one pose per camera, or 1, shared: then all cameras'
    rays go through the posed field together, in chunks of `chunk` rays). `early_stop` > 0: skip the samples behind
    a transmittance below it (`renderers.volume.evaluate_early_stop`; their weight is smaller, gradients still flow).

    Returns dict(rgb B x 3 x H x W in [0, 1], opacity B x H x W, num_samples int).
    """
    from renderers.volume import render_image

    device = next(avatar.parameters()).device
    out, cams = out.to(device), cams.to(device)
    shared = out.vertices.shape[0] == 1
    views = [(cams, 0)] if shared else [(cams[b], b) for b in range(len(cams))]
    rgbs, opacities, n = [], [], 0
    for view_cams, b in views:
        pr = posed_render(avatar, out, b, ray_step, baked)
        r = render_image(view_cams, pr.field, pr.sampler, near=NEAR, far=FAR, aabb=pr.aabb, background=background,
                         perturb=perturb, chunk=chunk, early_stop=early_stop)  # fmt: skip
        rgbs.append(r["rgb"].permute(0, 3, 1, 2))
        opacities.append(r["opacity"])
        n += int(r["num_samples"])
    return {"rgb": torch.cat(rgbs).clamp(0, 1), "opacity": torch.cat(opacities), "num_samples": n}


@torch.no_grad()
def render_placed(
    cams: Cameras,
    placed: Sequence[tuple[PosedRender, torch.Tensor]],
    background: torch.Tensor,
    chunk: int = CHUNK,
) -> torch.Tensor:
    """Several posed avatars, each with its 4 x 4 world-to-avatar transform, in one image per camera: their samples
    are merged by depth and composited once (`renderers.scene`). Returns rgb B x 3 x H x W."""
    from renderers.scene import SceneField, render_scene_image

    fields = [SceneField(pr.field, pr.sampler, pr.aabb, world_to_local) for pr, world_to_local in placed]
    r = render_scene_image(cams, fields, near=NEAR, far=FAR, background=background, chunk=chunk)
    return r["rgb"].permute(0, 3, 1, 2)


__all__ = ["NEAR", "FAR", "CHUNK", "PosedRender", "posed_render", "render_rays", "render_avatar", "render_placed"]
