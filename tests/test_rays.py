"""Rays through pixel centres, ray-box intersection and rays in a local (similarity) frame."""

from __future__ import annotations

import math

import pytest
import torch

from renderers.cameras import orbit_cameras, project
from renderers.rays import near_far, pixel_rays, ray_aabb, transform_rays


def test_pixel_rays_project_back_to_pixel_centres():
    cams = orbit_cameras([2.0, 3.0], [80.0, 100.0], [0.0, 120.0], [40.0, 60.0], (12, 8))
    origins, dirs = pixel_rays(cams)
    assert origins.shape == dirs.shape == (2, 8, 12, 3)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(2, 8, 12), atol=1e-6)
    uv, z = project((origins + 1.7 * dirs).reshape(2, -1, 3), cams)
    v, u = torch.meshgrid(torch.arange(8) + 0.5, torch.arange(12) + 0.5, indexing="ij")
    expect = torch.stack([u, v], -1).reshape(1, -1, 2).expand(2, -1, -1)
    assert torch.allclose(uv, expect, atol=1e-4)
    assert (z > 0).all()


def test_ray_aabb_by_hand_and_misses():
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    o = torch.tensor([[0.0, 0.0, -5.0], [2.0, 0.0, -5.0], [0.0, 0.0, 0.0], [-3.0, -3.0, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    d = torch.nn.functional.normalize(d, dim=-1)
    t0, t1 = ray_aabb(o, d, aabb)
    assert torch.allclose(t0[0], torch.tensor(4.0)) and torch.allclose(t1[0], torch.tensor(6.0))
    assert t1[1] <= t0[1]  # parallel to the box, outside: a miss
    assert torch.allclose(t0[2], torch.tensor(-1.0)) and torch.allclose(t1[2], torch.tensor(1.0))  # inside
    s3 = math.sqrt(3)
    assert torch.allclose(t0[3], torch.tensor(2 * s3)) and torch.allclose(t1[3], torch.tensor(4 * s3), atol=1e-5)
    tn, tf = near_far(o, d, 0.5, 5.5, aabb)
    assert torch.allclose(tn[[0, 2]], torch.tensor([4.0, 0.5])) and torch.allclose(tf[[0, 2]], torch.tensor([5.5, 1.0]))


def test_ray_aabb_against_point_sampling():
    g = torch.Generator().manual_seed(0)
    aabb = torch.tensor([[-0.5, -1.0, -0.2], [0.7, 0.3, 0.9]])
    o = torch.randn(400, 3, generator=g) * 2
    d = torch.nn.functional.normalize(torch.randn(400, 3, generator=g), dim=-1)
    t0, t1 = ray_aabb(o, d, aabb)
    t = torch.linspace(-8, 8, 4001)
    p = o[:, None] + t[None, :, None] * d[:, None]
    inside = ((p >= aabb[0]) & (p <= aabb[1])).all(-1)  # 400 x 4001
    tt = t.expand(400, -1)
    hit = inside.any(1)
    clear = (t1 - t0).abs() > 0.02  # grazing rays fall between the reference's sample points
    assert clear.float().mean() > 0.9 and torch.equal(hit[clear], (t1 > t0)[clear])
    assert 20 < int(hit.sum()) < 380
    h = hit & (t1 > t0 + 0.02)
    ref0 = torch.where(inside, tt, torch.full_like(tt, 1e9)).amin(1)
    ref1 = torch.where(inside, tt, torch.full_like(tt, -1e9)).amax(1)
    assert torch.allclose(t0[h], ref0[h], atol=5e-3) and torch.allclose(t1[h], ref1[h], atol=5e-3)


def test_transform_rays_similarity():
    angle = 0.7
    c, s = math.cos(angle), math.sin(angle)
    R = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    M = torch.eye(4)
    M[:3, :3] = 2.5 * R
    M[:3, 3] = torch.tensor([0.3, -1.0, 2.0])
    o = torch.randn(5, 3)
    d = torch.nn.functional.normalize(torch.randn(5, 3), dim=-1)
    lo, ld, s = transform_rays(o, d, M)
    assert float(s) == pytest.approx(2.5, rel=1e-5)
    assert torch.allclose(ld.norm(dim=-1), torch.ones(5), atol=1e-6)
    for t in (0.0, 1.3):
        world = o + t * d
        local = world @ M[:3, :3].T + M[:3, 3]
        assert torch.allclose(lo + s * t * ld, local, atol=1e-5)
