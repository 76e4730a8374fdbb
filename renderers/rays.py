"""Camera rays, ray-box intersection and rigid (similarity) transforms of rays.

Rays go through pixel centres (pixel (i, j) at u = j + 0.5, v = i + 0.5), in the OpenCV convention of
`renderers.cameras`. Directions are unit length, so a ray parameter t is a distance in world units.
"""

from __future__ import annotations

import torch

from renderers.cameras import Cameras


def pixel_rays(cams: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """World rays through every pixel centre. Returns (origins, dirs), each B x H x W x 3; dirs are unit vectors."""
    c2w = cams.c2w.float()
    H, W = cams.height, cams.width
    v, u = torch.meshgrid(
        torch.arange(H, dtype=c2w.dtype, device=c2w.device) + 0.5,
        torch.arange(W, dtype=c2w.dtype, device=c2w.device) + 0.5,
        indexing="ij",
    )
    f = cams.focal.to(c2w)[:, None, None]  # B x 1 x 1
    x = (u - W / 2) / f
    y = (v - H / 2) / f
    d_cam = torch.stack([x, y, torch.ones_like(x)], -1)  # B x H x W x 3 (camera frame, z forward)
    dirs = torch.einsum("bij,bhwj->bhwi", c2w[:, :3, :3], d_cam)
    dirs = torch.nn.functional.normalize(dirs, dim=-1)
    origins = c2w[:, None, None, :3, 3].expand_as(dirs)
    return origins, dirs


def ray_aabb(origins: torch.Tensor, dirs: torch.Tensor, aabb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab intersection of rays with a box. origins, dirs: R x 3; aabb: 2 x 3 (min, max) or 6.

    Returns (t_enter R, t_exit R); a ray misses the box where t_exit <= t_enter. t_enter may be negative (the origin
    is inside the box): clamp it with `near` yourself.
    """
    aabb = aabb.reshape(2, 3).to(origins)
    # dirs parallel to an axis: a huge inverse keeps the slab test correct (inf * 0 would give nan)
    inv = 1.0 / torch.where(dirs.abs() < 1e-12, torch.full_like(dirs, 1e-12), dirs)
    t0 = (aabb[0] - origins) * inv
    t1 = (aabb[1] - origins) * inv
    t_enter = torch.minimum(t0, t1).amax(-1)
    t_exit = torch.maximum(t0, t1).amin(-1)
    return t_enter, t_exit


def near_far(
    origins: torch.Tensor,
    dirs: torch.Tensor,
    near: float,
    far: float,
    aabb: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-ray sampling range [t_near, t_far]: [near, far] clipped to the box when given. R x 3 -> (R, R).

    Rays that miss get t_far <= t_near (an empty range).
    """
    R = origins.shape[0]
    t_near = torch.full((R,), float(near), dtype=origins.dtype, device=origins.device)
    t_far = torch.full((R,), float(far), dtype=origins.dtype, device=origins.device)
    if aabb is not None:
        t_enter, t_exit = ray_aabb(origins, dirs, aabb)
        t_near = torch.maximum(t_near, t_enter)
        t_far = torch.minimum(t_far, t_exit)
    return t_near, t_far


def transform_rays(
    origins: torch.Tensor, dirs: torch.Tensor, world_to_local: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rays into a local frame given by a 4 x 4 similarity (rotation x uniform scale, then translation).

    origins, dirs: R x 3 (dirs unit). Returns (local origins R x 3, local unit dirs R x 3, scale: a 0-d tensor s with
    local length = s x world length). A world ray parameter t is s * t in the local frame.
    """
    M = world_to_local.to(origins)
    A = M[:3, :3]
    o = origins @ A.T + M[:3, 3]
    d = dirs @ A.T
    scale = torch.linalg.det(A).abs().pow(1.0 / 3.0)
    return o, d / scale, scale
