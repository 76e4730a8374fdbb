"""Rendering a posed avatar from cameras: body-guided sampling through the avatar field, one image per camera."""

from __future__ import annotations

from typing import Callable, Optional

import torch

from dreamavatar.body.base import BodyOutput
from dreamavatar.field.avatar import AvatarField
from dreamavatar.field.bake import BakedField
from renderers.cameras import Cameras

BackgroundFn = Callable[[torch.Tensor], torch.Tensor]


def render_avatar(
    avatar: AvatarField,
    out: BodyOutput,
    cams: Cameras,
    background: BackgroundFn | torch.Tensor | None,
    ray_step: float,
    perturb: bool = False,
    baked: Optional[BakedField] = None,
    chunk: int = 16384,
) -> dict[str, torch.Tensor]:
    """Render B cameras of a posed body (`out` has batch B, one pose per camera, or 1, shared).

    Returns dict(rgb B x 3 x H x W in [0, 1], opacity B x H x W, num_samples int).
    """
    from renderers.samplers import OccupancySampler
    from renderers.volume import render_image

    device = next(avatar.parameters()).device
    out, cams = out.to(device), cams.to(device)
    rgbs, opacities, n = [], [], 0
    shared = out.vertices.shape[0] == 1
    posed = avatar.posed(out, 0, baked=baked) if shared else None
    grid = posed.occupancy() if shared else None
    for b in range(len(cams)):
        if not shared:
            posed = avatar.posed(out, b, baked=baked)
            grid = posed.occupancy()
        sampler = OccupancySampler(grid, step=ray_step)
        r = render_image(cams[b], posed, sampler, near=0.05, far=20.0, aabb=grid.aabb, background=background,
                         perturb=perturb, chunk=chunk)  # fmt: skip
        rgbs.append(r["rgb"][0].permute(2, 0, 1))
        opacities.append(r["opacity"][0])
        n += int(r["num_samples"])
    return {"rgb": torch.stack(rgbs).clamp(0, 1), "opacity": torch.stack(opacities), "num_samples": n}


def side_by_side(images: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate C x H x W images horizontally (resized to the first one's height) -> C x H x sum(W)."""
    h = images[0].shape[-2]
    rs = [
        img
        if img.shape[-2] == h
        else torch.nn.functional.interpolate(
            img[None], size=(h, round(img.shape[-1] * h / img.shape[-2])), mode="nearest"
        )[0]
        for img in images
    ]
    return torch.cat(rs, -1)


def to_uint8(img: torch.Tensor) -> "numpy.ndarray":  # noqa: F821
    """C x H x W in [0, 1] -> H x W x C uint8."""
    return (img.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype("uint8")
