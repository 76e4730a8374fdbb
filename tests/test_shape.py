"""The body-silhouette terms that keep an avatar on its body during SDS (dreamavatar.train.shape)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from dreamavatar.train.shape import ShapeConfig, body_masks, shape_loss
from renderers.cameras import orbit_cameras
from renderers.raycast import mesh_silhouette


@pytest.fixture(scope="module")
def canonical(anny_body):
    with torch.no_grad():
        return anny_body.canonical()


def _cams(n: int = 3, size: int = 64, radius: float = 2.5):
    return orbit_cameras(radius, 90.0, torch.linspace(0, 270, n), 45.0, size, (0.0, 0.0, 0.0))


def test_inside_is_the_silhouette_and_outside_keeps_its_distance(canonical):
    cams = _cams()
    margin = 0.05
    inside, outside = body_masks(cams, canonical, margin)
    ray_cast = mesh_silhouette(cams, canonical.vertices.float().expand(3, -1, -1), canonical.faces)
    assert inside.shape == outside.shape == (3, 64, 64) and inside.dtype == torch.bool
    assert (inside == ray_cast).float().mean() > 0.995  # rasteriser vs ray caster, two independent paths
    for b in range(3):
        dist = distance_transform_edt(~inside[b].numpy())  # pixels to the nearest silhouette pixel
        focal = float(cams.focal[b])
        band = focal * margin / float((canonical.vertices[0].mean(0) - cams.centers[b]).norm())
        out = outside[b].numpy()
        assert not (out & inside[b].numpy()).any()
        assert dist[out].min() > round(band) - 1e-6  # nothing within the free band (nearest pixel) is penalised
        assert (dist > band + 2).sum() > 0 and out[dist > band + 2].all()  # everything clearly beyond it is


def test_zero_margin_leaves_only_the_silhouette_free(canonical):
    inside, outside = body_masks(_cams(1), canonical, 0.0)
    assert torch.equal(outside, ~inside)


def test_shape_loss_value_and_direction():
    gen = torch.Generator().manual_seed(0)
    opacity = torch.rand(2, 8, 8, generator=gen)
    inside = torch.rand(2, 8, 8, generator=gen) > 0.5
    outside = ~inside & (torch.rand(2, 8, 8, generator=gen) > 0.3)
    expected = 3.0 * np.mean(inside.numpy() * (1 - opacity.numpy()) ** 2) + 0.5 * np.mean(
        outside.numpy() * opacity.numpy() ** 2
    )
    assert float(shape_loss(opacity, inside, outside, 3.0, 0.5)) == pytest.approx(expected, rel=1e-5)
    x = opacity.clone().requires_grad_(True)
    shape_loss(x, inside, outside, 3.0, 0.5).backward()
    assert (x.grad[inside] <= 0).all() and (x.grad[outside] >= 0).all()  # more opacity inside, less outside
    assert (x.grad[~inside & ~outside] == 0).all()  # the free band is free


def test_weights_follow_their_schedules():
    cfg = ShapeConfig(inside=5.0, outside=1.0, inside_schedule=[0, 10.0, 2.0, 100])
    assert cfg.weights(0) == (10.0, 1.0)
    assert cfg.weights(50) == (6.0, 1.0)
    assert cfg.weights(500) == (2.0, 1.0)
