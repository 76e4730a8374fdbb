"""Several fields in one scene: each with its own rigid transform and box; samples of all fields merged by depth and
composited once, so nearer fields hide farther ones and opacity stays within 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Sequence

import torch

from renderers.cameras import Cameras
from renderers.errors import RenderError
from renderers.rays import near_far, transform_rays
from renderers.samplers import Field, Sampler
from renderers.compositing import Background, blend_background, composite
from renderers.volume import evaluate, render_camera_chunks


@dataclass
class SceneField:
    """One field placed in the scene.

    field:          callable (points N x 3, dirs N x 3) -> (sigma N, rgb N x 3) in its local frame
    sampler:        how to sample it (in its local frame)
    aabb:           2 x 3 box of the field in its local frame
    world_to_local: 4 x 4 similarity (rotation x uniform scale, translation); identity by default
    """

    field: Field
    sampler: Sampler
    aabb: torch.Tensor
    world_to_local: torch.Tensor = dc_field(default_factory=lambda: torch.eye(4))


def merge_order(ray_indices: torch.Tensor, t_mids: torch.Tensor) -> torch.Tensor:
    """Permutation that sorts samples by ray, then by t within each ray. N, N -> N long."""
    by_t = torch.argsort(t_mids, stable=True)
    by_ray = torch.argsort(ray_indices[by_t], stable=True)
    return by_t[by_ray]


def render_scene_rays(
    origins: torch.Tensor,
    dirs: torch.Tensor,
    fields: Sequence[SceneField],
    near: float = 0.0,
    far: float = float("inf"),
    background: Background = None,
    perturb: bool = False,
) -> dict:
    """Render world rays (origins, unit dirs: R x 3) through all fields.

    Returns dict(rgb R x 3, opacity R, depth R (world distance), weights N (merged order), num_samples int,
    opacity_per_field R x F: the share of each ray's opacity that each field contributes; sums to opacity).
    """
    if not fields:
        raise RenderError("render_scene_rays got no fields: give at least one SceneField")
    R = origins.shape[0]
    ids, starts, ends, sigmas, rgbs, owner = [], [], [], [], [], []
    extra = 0
    for k, sf in enumerate(fields):
        o, d, scale = transform_rays(origins, dirs, sf.world_to_local)
        t_near, t_far = near_far(o, d, near * float(scale), far * float(scale), sf.aabb)
        samples = sf.sampler(o, d, t_near, t_far, field=sf.field, perturb=perturb)
        sigma, rgb = evaluate(sf.field, samples, o, d)
        # back to world units: t shrinks by the scale, density per world length grows by it (same optical depth)
        ids.append(samples.ray_indices)
        starts.append(samples.t_starts / scale)
        ends.append(samples.t_ends / scale)
        sigmas.append(sigma * scale)
        rgbs.append(rgb)
        owner.append(torch.full_like(samples.ray_indices, k))
        extra += samples.extra_evaluations
    ray_indices, t_starts, t_ends = torch.cat(ids), torch.cat(starts), torch.cat(ends)
    order = merge_order(ray_indices, 0.5 * (t_starts + t_ends))
    ray_indices, owner = ray_indices[order], torch.cat(owner)[order]
    out = composite(torch.cat(sigmas)[order], torch.cat(rgbs)[order], t_starts[order], t_ends[order], ray_indices, R)
    per_field = torch.zeros(R * len(fields), dtype=out["weights"].dtype, device=origins.device)
    per_field = per_field.index_add(0, ray_indices * len(fields) + owner, out["weights"]).reshape(R, len(fields))
    out["opacity_per_field"] = per_field
    out["num_samples"] = int(ray_indices.shape[0]) + extra
    return blend_background(out, background, dirs)


def render_scene_image(
    cams: Cameras,
    fields: Sequence[SceneField],
    near: float = 0.0,
    far: float = float("inf"),
    background: Background = None,
    perturb: bool = False,
    chunk: int = 8192,
) -> dict:
    """Render B camera images of the scene, `chunk` rays at a time. Returns dict(rgb B x H x W x 3, opacity
    B x H x W, depth B x H x W, opacity_per_field B x H x W x F, num_samples int)."""
    return render_camera_chunks(
        cams, chunk, lambda o, d: render_scene_rays(o, d, fields, near, far, background, perturb)
    )
