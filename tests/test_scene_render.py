"""Several fields in one scene: transforms, depth-merged compositing, occlusion between fields."""

from __future__ import annotations

import math

import pytest
import torch

from renderers.cameras import orbit_cameras
from renderers.errors import RenderError
from renderers.occupancy import OccupancyGrid
from renderers.samplers import OccupancySampler, StratifiedSampler
from renderers.scene import SceneField, render_scene_image, render_scene_rays
from renderers.volume import render_image

BOX = torch.tensor([[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]])


def ball(colour, radius=0.35, density=60.0):
    """A solid ball at the local origin with a soft 5 cm rim; colour a constant RGB."""
    c = torch.tensor(colour)

    def field(p, d):
        x = ((radius - p.norm(dim=-1)) / 0.05).clamp(0, 1)
        return density * x * x * (3 - 2 * x), c.expand(p.shape[0], 3)

    return field


def placed(field, translation, sampler=None, scale=1.0, angle=0.0):
    """SceneField whose local frame = scale x R_y(angle) x (world - translation)."""
    c, s = math.cos(angle), math.sin(angle)
    R = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    M = torch.eye(4)
    M[:3, :3] = scale * R
    M[:3, 3] = -scale * R @ torch.tensor(translation)
    return SceneField(field, sampler or StratifiedSampler(num_samples=96), BOX, M)


CAMS = orbit_cameras(3.0, 90.0, 0.0, 40.0, 24)  # in front (+z), looking at the origin


def test_nearer_field_hides_farther_one_and_order_does_not_matter():
    red = placed(ball((1.0, 0.0, 0.0)), (0.15, 0.0, 0.4))  # nearer to the camera at +z
    blue = placed(ball((0.0, 0.0, 1.0)), (-0.15, 0.0, -0.4))
    a = render_scene_image(CAMS, [red, blue], background=1.0)
    b = render_scene_image(CAMS, [blue, red], background=1.0)
    for k in ("rgb", "opacity", "depth"):
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    assert torch.allclose(a["opacity_per_field"], b["opacity_per_field"].flip(-1), atol=1e-5)
    assert (a["opacity"] <= 1).all()
    assert torch.allclose(a["opacity_per_field"].sum(-1), a["opacity"], atol=1e-5)
    centre = a["rgb"][0, 12, 12]  # both balls cover the centre: the red one is in front
    assert centre[0] > 0.95 and centre[2] < 0.05
    assert a["opacity_per_field"][0, 12, 12, 1] < 0.01
    # each ball alone covers the centre too: what hides blue is the red one
    alone = render_scene_image(CAMS, [blue], background=1.0)
    assert alone["rgb"][0, 12, 12, 2] > 0.95 and alone["opacity"][0, 12, 12] > 0.99
    # where only blue is seen (left of centre: world -x; red ends at x ~ -0.2 there), it shows
    assert a["rgb"][0, 12, 9, 2] > 0.9 and a["rgb"][0, 12, 9, 0] < 0.1


def test_scene_with_one_identity_field_equals_render_image():
    f = ball((0.2, 0.7, 0.4))
    sampler = StratifiedSampler(num_samples=48)
    a = render_scene_image(CAMS, [SceneField(f, sampler, BOX)], background=(0.0, 0.0, 1.0))
    b = render_image(CAMS, f, sampler, aabb=BOX, background=(0.0, 0.0, 1.0))
    for k in ("rgb", "opacity", "depth"):
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert a["num_samples"] == b["num_samples"]


def test_scaled_rotated_field_matches_the_same_field_written_in_world():
    """A field placed by a similarity renders like the equivalent world field (density scaled by the scale)."""
    scale, angle, t = 2.0, 0.6, torch.tensor([0.1, -0.05, 0.2])

    def local(p, d):  # an off-centre ellipsoid so rotation shows
        q = p / torch.tensor([0.4, 0.25, 0.15])
        x = ((1 - q.norm(dim=-1)) / 0.3).clamp(0, 1)
        return 20 * x * x * (3 - 2 * x), (p + 0.5).clamp(0, 1)

    sf = placed(local, tuple(t.tolist()), StratifiedSampler(num_samples=512), scale=scale, angle=angle)
    M = sf.world_to_local

    def world(p, d):
        sigma, rgb = local(p @ M[:3, :3].T + M[:3, 3], d)
        return sigma * scale, rgb

    a = render_scene_image(CAMS, [sf], background=0.0)
    b = render_image(CAMS, world, StratifiedSampler(num_samples=512), aabb=BOX, background=0.0)
    assert b["opacity"].max() > 0.5
    assert (a["rgb"] - b["rgb"]).abs().max() < 0.02 and (a["opacity"] - b["opacity"]).abs().max() < 0.02
    hit = b["opacity"] > 0.5
    assert torch.allclose(a["depth"][hit], b["depth"][hit], atol=0.01)


def test_gradients_reach_every_field_and_guided_samplers_mix():
    w_red = torch.tensor(1.0, requires_grad=True)
    w_blue = torch.tensor(1.0, requires_grad=True)

    def scaled(field, w):
        return lambda p, d: (lambda s, c: (s * w, c * w))(*field(p, d))

    grid = OccupancyGrid.from_points(torch.randn(500, 3) * 0.2, 0.2, 0.03)
    red = placed(scaled(ball((1.0, 0.0, 0.0), density=2.0), w_red), (0.0, 0.0, 0.4), OccupancySampler(grid, step=0.01))
    blue = placed(scaled(ball((0.0, 0.0, 1.0), density=2.0), w_blue), (0.0, 0.0, -0.4))
    o, d = torch.tensor([[0.0, 0.0, 3.0]]), torch.tensor([[0.0, 0.0, -1.0]])
    out = render_scene_rays(o, d, [red, blue])
    (out["rgb"].sum() + out["opacity"].sum()).backward()
    assert w_red.grad is not None and w_red.grad.abs() > 0 and w_blue.grad.abs() > 0
    assert out["opacity_per_field"][0, 0] > out["opacity_per_field"][0, 1] > 0  # thin balls: both show
    with pytest.raises(RenderError, match="field"):
        render_scene_rays(o, d, [])
