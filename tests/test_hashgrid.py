"""Hash-grid encoding, MLP heads and the canonical NeRF against independent references."""

from __future__ import annotations

import math

import pytest
import torch

from dreamavatar.field.background import Background
from dreamavatar.field.hashgrid import PRIMES, HashGrid, HashGridConfig, tcnn_available
from dreamavatar.field.mlp import trunc_exp
from dreamavatar.field.nerf import CanonicalField, NeRFConfig


def reference_encoding(grid: HashGrid, x: torch.Tensor) -> torch.Tensor:
    """Point-by-point Python version of the encoding (uint32 hashing with explicit wrap-around)."""
    c = grid.cfg
    T = 2**c.log2_table_size
    out = torch.zeros(x.shape[0], c.n_levels, c.n_features, dtype=torch.float64)
    table = grid.table.detach().double()
    for n, p in enumerate(x.tolist()):
        u = [min(max((pi + c.bound) / (2 * c.bound), 0.0), 1.0) for pi in p]
        for lvl in range(c.n_levels):
            scale = c.base_resolution * (c.finest_resolution / c.base_resolution) ** (lvl / (c.n_levels - 1)) - 1
            res = math.ceil(scale) + 1
            pos = [ui * scale + 0.5 for ui in u]
            lo = [math.floor(q) for q in pos]
            fr = [q - f for q, f in zip(pos, lo)]
            for corner in range(8):
                off = [(corner >> k) & 1 for k in range(3)]
                w = math.prod(fr[k] if off[k] else 1 - fr[k] for k in range(3))
                g = [lo[k] + off[k] for k in range(3)]
                if res**3 <= T:
                    g = [min(gi, res - 1) for gi in g]
                    row = g[0] + g[1] * res + g[2] * res * res
                else:
                    h = 0
                    for k in range(3):
                        h ^= (g[k] * PRIMES[k]) & 0xFFFFFFFF
                    row = h % T
                out[n, lvl] += w * table[int(grid.offsets[lvl]) + row]
    return out.reshape(x.shape[0], -1)


@pytest.fixture(scope="module")
def grid() -> HashGrid:
    torch.manual_seed(0)
    g = HashGrid(HashGridConfig(n_levels=6, log2_table_size=12, base_resolution=4, finest_resolution=128))
    with torch.no_grad():
        g.table.uniform_(-1, 1)  # large values so a wrong row or weight shows
    return g


def test_levels_follow_the_config():
    g = HashGrid(HashGridConfig(log2_table_size=16))
    assert g.res[0] == 16 and g.res[-1] == 4096  # base 16, finest 4096, 16 levels
    assert g.out_dim == 32
    assert 1 <= g.n_dense < 16  # coarse levels dense, fine levels hashed
    hashed = g.sizes[g.n_dense :]
    assert (hashed == 2**16).all() and (g.offsets[g.n_dense :] % 2**16 == 0).all()
    assert g.table.shape[0] >= int(g.sizes.sum())
    full = HashGrid(HashGridConfig())
    assert int(full.sizes.max()) == 2**19


def test_matches_pointwise_reference(grid):
    torch.manual_seed(1)
    x = torch.rand(40, 3) * 4.4 - 2.2  # includes points outside the box (clamped)
    got = grid(x).double()
    ref = reference_encoding(grid, x)
    assert got.shape == (40, grid.out_dim)
    assert torch.allclose(got, ref, atol=1e-5)


def test_interpolation_is_continuous(grid):
    x = torch.rand(2000, 3) * 3.8 - 1.9
    f0, f1 = grid(x), grid(x + 1e-5)
    assert (f0 - f1).abs().max() < 1e-2
    assert torch.isfinite(f0).all()


def test_gradients_reach_the_table(grid):
    g = HashGrid(grid.cfg)
    x = torch.rand(500, 3) * 2 - 1
    g(x).square().sum().backward()
    assert g.table.grad is not None and g.table.grad.abs().sum() > 0
    assert (g.table.grad != 0).sum() <= 500 * 8 * grid.cfg.n_levels * grid.cfg.n_features


def test_tcnn_missing_falls_back_with_a_warning(caplog):
    if tcnn_available():
        pytest.skip("tinycudann is installed")
    g = HashGrid(HashGridConfig(n_levels=4, log2_table_size=10, finest_resolution=64, implementation="tcnn"))
    assert "tinycudann" in caplog.text
    assert g(torch.zeros(3, 3)).shape == (3, 8)


@pytest.mark.skipif(not tcnn_available(), reason="tinycudann + CUDA not available")
def test_tcnn_matches_torch():
    cfg = HashGridConfig(n_levels=8, log2_table_size=14, finest_resolution=512, implementation="tcnn")
    g = HashGrid(cfg)
    with torch.no_grad():
        g.table.uniform_(-1, 1)
        g._tcnn.params.copy_(g.tcnn_layout().reshape(-1).to(g._tcnn.params))
    g = g.cuda()
    x = torch.rand(4096, 3, device="cuda") * 3.8 - 1.9
    tc = g(x)
    g._tcnn, saved = None, g._tcnn  # the torch path on the same table
    ref = g(x)
    g._tcnn = saved
    assert torch.allclose(tc, ref, atol=1e-4)


def test_trunc_exp_clamps_value_and_gradient():
    x = torch.tensor([0.0, 2.0, 20.0, 100.0], requires_grad=True)
    y = trunc_exp(x)
    assert torch.allclose(y, torch.exp(torch.tensor([0.0, 2.0, 15.0, 15.0])))
    y.sum().backward()
    assert torch.allclose(x.grad, torch.exp(torch.tensor([0.0, 2.0, 15.0, 15.0])))


def small_nerf(**kw) -> CanonicalField:
    return CanonicalField(NeRFConfig(grid=HashGridConfig(n_levels=4, log2_table_size=10, finest_resolution=64), **kw))


def test_nerf_outputs_and_normals():
    torch.manual_seed(0)
    f = small_nerf()
    x = torch.rand(100, 3) - 0.5
    sigma, rgb = f(x, torch.nn.functional.normalize(torch.randn(100, 3), dim=-1))
    assert sigma.shape == (100,) and (sigma >= 0).all()
    assert rgb.shape == (100, 3) and (rgb >= 0).all() and (rgb <= 1).all()
    # normals from the density gradient: a sphere-shaped density (falls off with radius) has radial normals
    f.density = lambda p: torch.exp(-4 * p.norm(dim=-1))  # type: ignore[method-assign]
    n = f.normals(x)
    assert torch.allclose(n, torch.nn.functional.normalize(x, dim=-1), atol=1e-3)
    # Lambertian: a point whose normal faces the light keeps its albedo, one facing away gets the ambient share
    light = torch.tensor([1.0, 0.0, 0.0])
    pts = torch.tensor([[0.3, 0.0, 0.0], [-0.3, 0.0, 0.0]])
    shaded = f.shade(pts, torch.ones(2, 3), light)
    assert torch.allclose(shaded[0], torch.ones(3), atol=1e-3)
    assert torch.allclose(shaded[1], torch.full((3,), f.cfg.ambient), atol=1e-3)


def test_background_against_fixed_weights():
    """The background network with hand-set weights against the formula written out: features
    [d, sin(2^k pi d), cos(2^k pi d)] (k < n_freqs), one hidden ReLU layer, a sigmoid."""
    bg = Background(Background.Config(n_freqs=2, hidden=4, layers=2))
    first, last = bg.net[0], bg.net[2]
    with torch.no_grad():
        first.weight.copy_(torch.arange(4 * 15, dtype=torch.float32).reshape(4, 15).sin())
        first.bias.copy_(torch.tensor([0.1, -0.2, 0.3, -0.4]))
        last.weight.copy_(torch.arange(3 * 4, dtype=torch.float32).reshape(3, 4).cos())
        last.bias.copy_(torch.tensor([0.5, 0.0, -0.5]))
    d = torch.tensor([[0.0, 0.0, 1.0], [0.6, 0.0, -0.8], [0.0, 1.0, 0.0]])
    ref = []
    for x in d.tolist():
        feats = x + [math.sin(2**k * math.pi * v) for k in range(2) for v in x]
        feats += [math.cos(2**k * math.pi * v) for k in range(2) for v in x]
        h = [max(0.0, sum(w * f for w, f in zip(first.weight[j].tolist(), feats)) + first.bias[j].item())
             for j in range(4)]  # fmt: skip
        out = [sum(w * v for w, v in zip(last.weight[i].tolist(), h)) + last.bias[i].item() for i in range(3)]
        ref.append([1 / (1 + math.exp(-o)) for o in out])
    assert torch.allclose(bg(d), torch.tensor(ref), atol=1e-5)
