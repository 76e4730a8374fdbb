"""Samplers: stratified, importance (inverse CDF) and body-guided (occupancy grid) sampling."""

from __future__ import annotations

import math

import pytest
import torch

from renderers.cameras import orbit_cameras
from renderers.errors import RenderError
from renderers.occupancy import OccupancyGrid, ball_offsets
from renderers.samplers import ImportanceSampler, OccupancySampler, StratifiedSampler, sample_pdf
from renderers.volume import render_image, render_rays


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean().clamp(min=1e-20)))


def rays(R=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    o = torch.randn(R, 3, generator=g)
    return o, torch.nn.functional.normalize(torch.randn(R, 3, generator=g), dim=-1)


@pytest.mark.parametrize("perturb", [False, True])
def test_stratified_inside_range_sorted_and_gapless(perturb):
    o, d = rays()
    t_near = torch.tensor([0.5, 1.0, 2.0, 3.0, 1.0])
    t_far = torch.tensor([1.5, 4.0, 2.5, 2.0, 1.0])  # rays 3 and 4 have empty ranges
    s = StratifiedSampler(num_samples=16)(o, d, t_near, t_far, perturb=perturb)
    assert s.ray_indices.tolist() == [0] * 16 + [1] * 16 + [2] * 16 and s.per_ray == 16
    ts, te = s.t_starts.reshape(3, 16), s.t_ends.reshape(3, 16)
    assert (te >= ts).all() and torch.equal(ts[:, 1:], te[:, :-1])  # sorted, no gaps
    assert torch.allclose(ts[:, 0], t_near[:3]) and torch.allclose(te[:, -1], t_far[:3])
    mids = s.t_mids.reshape(3, 16)
    if not perturb:  # deterministic midpoints of equal bins
        expect = t_near[:3, None] + (t_far - t_near)[:3, None] * (torch.arange(16) + 0.5) / 16
        assert torch.allclose(mids, expect, atol=1e-6)
    else:
        again = StratifiedSampler(num_samples=16)(o, d, t_near, t_far, perturb=True)
        assert not torch.allclose(again.t_mids, s.t_mids)


def test_sample_pdf_follows_the_weights():
    edges = torch.linspace(0, 1, 11).expand(2, 11).contiguous()
    w = torch.zeros(2, 10)
    w[0, 7] = 1.0  # all mass in bin [0.7, 0.8]
    w[1] = 1.0  # uniform
    t = sample_pdf(edges, w, 64)
    assert (t[0] > 0.699).float().mean() > 0.99 and (t[0] < 0.801).float().mean() > 0.99
    assert torch.allclose(t[1], (torch.arange(64) + 0.5) / 64, atol=1e-4)  # uniform pdf: evenly spread quantiles
    tp = sample_pdf(edges, w, 64, perturb=True)
    assert (tp[:, 1:] >= tp[:, :-1]).all()


def test_importance_sampling_concentrates_where_weights_are():
    def thin_slab(p, d):  # opaque slab 2.0 <= z <= 2.3
        inside = (p[:, 2] >= 2.0) & (p[:, 2] <= 2.3)
        return torch.where(inside, 50.0, 0.0), torch.ones_like(p)

    o = torch.zeros(3, 3)
    d = torch.nn.functional.normalize(torch.tensor([[0.0, 0.0, 1.0], [0.05, 0.0, 1.0], [0.0, 0.05, 1.0]]), dim=-1)
    sampler = ImportanceSampler(num_coarse=32, num_fine=64)
    out = render_rays(o, d, thin_slab, sampler, near=0.0, far=6.0)
    s = out["samples"]
    assert s.per_ray == 32 + 64 and out["num_samples"] == 3 * 96 + 3 * 32
    z = (s.t_mids * d[s.ray_indices, 2]).reshape(3, -1)
    near_slab = ((z > 1.8) & (z < 2.3)).float().mean(1)
    assert (near_slab > 0.5).all()  # a twelfth of the range holds most samples (uniform: 1 / 12)
    assert torch.allclose(out["opacity"], torch.ones(3), atol=1e-3)
    with pytest.raises(RenderError, match="field"):
        sampler(o, d, torch.zeros(3), torch.ones(3))


def sphere_points(n=3000, r=0.5, seed=0):
    p = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))
    return p / p.norm(dim=-1, keepdim=True) * r


def test_occupancy_grid_is_conservative_and_tight():
    pts = sphere_points(400, 0.3) + torch.tensor([0.1, -0.2, 0.05])
    radius, cell = 0.07, 0.025
    grid = OccupancyGrid.from_points(pts, radius, cell)
    q = torch.rand(20000, 3, generator=torch.Generator().manual_seed(1)) * 1.2 - 0.5
    dist = torch.cdist(q, pts).amin(1)
    occ = grid.query(q)
    assert occ[dist <= radius].all()  # nothing within the radius is missed
    assert not occ[dist > radius + 2 * math.sqrt(3) * cell].any()  # and nothing far is kept
    assert not grid.query(torch.tensor([[5.0, 0.0, 0.0]])).any()
    assert len(ball_offsets(0.0)) == 1 and len(ball_offsets(0.5)) == 27
    assert len(ball_offsets(2.0)) == 125 and len(ball_offsets(3.0)) < 343  # corners drop out from 3 cells on
    filled = OccupancyGrid.from_points(pts, radius, cell, fill_holes=True)
    centre = torch.tensor([[0.1, -0.2, 0.05]])
    assert not grid.query(centre).any() and filled.query(centre).all()
    with pytest.raises(RenderError, match="points"):
        OccupancyGrid.from_points(torch.zeros(0, 3), radius)


def shell_field(calls: list):
    """Density only within 4 cm of a sphere of radius 0.5 (zero elsewhere), colour varying over the sphere."""

    def field(p, d):
        calls.append(p.detach())
        x = (1 - ((p.norm(dim=-1) - 0.5).abs() / 0.04)).clamp(0, 1)
        return 40 * x * x * (3 - 2 * x), (p * 0.8 + 0.5).clamp(0, 1)

    return field


def test_body_guided_sampling_evaluates_only_near_the_sphere_and_matches_dense():
    cams = orbit_cameras(2.5, [80.0, 100.0], [20.0, 200.0], 45.0, 24)
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    radius, cell = 0.05, 0.02
    grid = OccupancyGrid.from_points(sphere_points(), radius, cell)
    calls: list = []
    guided = render_image(cams, shell_field(calls), OccupancySampler(grid, step=0.004), aabb=aabb, background=1.0)
    pts = torch.cat(calls)
    assert len(pts) == guided["num_samples"] > 0
    dist = (pts.norm(dim=-1) - 0.5).abs()  # distance to the sphere the grid was built from
    assert dist.max() < radius + 2 * math.sqrt(3) * cell  # the marking's conservative bound
    ref = render_image(cams, shell_field([]), StratifiedSampler(num_samples=1024), aabb=aabb, background=1.0)
    assert guided["num_samples"] * 5 < ref["num_samples"]
    assert psnr(guided["rgb"], ref["rgb"]) > 40
    assert psnr(guided["opacity"], ref["opacity"]) > 40
    assert ref["opacity"].max() > 0.9  # the shell is visible: not a comparison of two empty images
    # training mode: randomised march offsets, still close
    sampler = OccupancySampler(grid, step=0.004)
    noisy = render_image(cams, shell_field([]), sampler, aabb=aabb, background=1.0, perturb=True)
    assert psnr(noisy["rgb"], ref["rgb"]) > 35


def test_occupancy_from_density_marks_the_dense_region():
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    grid = OccupancyGrid.from_density(lambda p: (p.norm(dim=-1) < 0.4).float(), aabb, resolution=32, threshold=0.5)
    assert grid.query(torch.tensor([[0.0, 0.0, 0.0], [0.38, 0.0, 0.0]])).all()
    assert not grid.query(torch.tensor([[0.9, 0.0, 0.0], [0.0, -0.9, 0.5]])).any()
