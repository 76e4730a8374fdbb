"""Baking the canonical field to a grid: trilinear lookups reproduce a linear field exactly (axes in the right order)."""

from __future__ import annotations

import torch

from dreamavatar.bake import bake_canonical


class _Linear:
    """Stands in for the canonical NeRF: density and albedo linear in x, y, z with different slopes per axis."""

    def query(self, x):
        sigma = 20 + 10 * x[:, 0] + 3 * x[:, 1] - 2 * x[:, 2]
        return sigma, 0.5 + 0.2 * x


class _Avatar:
    canonical = _Linear()


class _Body:
    def __init__(self, v):
        self.vertices = v


def test_baked_grid_reproduces_a_linear_field():
    g = torch.Generator().manual_seed(0)
    verts = torch.rand(1, 500, 3, generator=g) * torch.tensor([0.8, 1.7, 0.4]) - torch.tensor([0.4, 0.9, 0.2])
    baked = bake_canonical(_Avatar(), _Body(verts), resolution=48)
    x = verts[0] + 0.02 * torch.randn(500, 3, generator=g)
    s_ref, a_ref = _Avatar.canonical.query(x)
    s, a = baked(x)
    torch.testing.assert_close(s, s_ref, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(a, a_ref, atol=1e-5, rtol=1e-5)
    # outside the baked box the field is empty
    s_out, _ = baked(torch.tensor([[3.0, 0.0, 0.0]]))
    assert float(s_out) == 0.0
