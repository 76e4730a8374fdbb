"""Compositing (packed and dense) against hand computations and analytic slabs; render_rays / render_image."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from renderers.accel import nerfacc_available, resolve_backend
from renderers.cameras import orbit_cameras
from renderers.errors import RenderError
from renderers.samplers import StratifiedSampler
from renderers.volume import composite, composite_dense, render_image, render_rays


def test_composite_one_ray_two_samples_by_hand():
    sigma = torch.tensor([1.0, 2.0])
    rgb = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    t_starts, t_ends = torch.tensor([1.0, 1.5]), torch.tensor([1.5, 1.75])
    a1 = 1 - math.exp(-0.5)  # 1 x 0.5
    a2 = 1 - math.exp(-0.5)  # 2 x 0.25
    w1, w2 = a1, (1 - a1) * a2
    out = composite(sigma, rgb, t_starts, t_ends, torch.tensor([0, 0]), 1)
    assert torch.allclose(out["weights"], torch.tensor([w1, w2]), atol=1e-6)
    assert torch.allclose(out["rgb"][0], torch.tensor([w1, 0.0, w2]), atol=1e-6)
    assert out["opacity"][0].item() == pytest.approx(w1 + w2, abs=1e-6)
    assert out["opacity"][0].item() == pytest.approx(1 - math.exp(-1.0), abs=1e-6)
    assert out["depth"][0].item() == pytest.approx((w1 * 1.25 + w2 * 1.625) / (w1 + w2), abs=1e-5)
    assert torch.allclose(out["transmittance"], torch.tensor([1.0, 1 - a1]), atol=1e-6)


def slab_field(sigma0: float, z0: float, z1: float):
    def field(p, d):
        inside = (p[:, 2] >= z0) & (p[:, 2] <= z1)
        return torch.where(inside, sigma0, 0.0), torch.full_like(p, 0.25)

    return field


@pytest.mark.parametrize("sigma0,L", [(0.5, 1.0), (3.0, 0.4), (40.0, 0.2)])
def test_constant_density_slab_matches_analytic_opacity(sigma0, L):
    o = torch.tensor([[0.0, 0.0, -3.0], [0.2, -0.1, -3.0]])
    d = torch.nn.functional.normalize(torch.tensor([[0.0, 0.0, 1.0], [0.1, 0.05, 1.0]]), dim=-1)
    aabb = torch.tensor([[-1.0, -1.0, 0.0], [1.0, 1.0, L]])  # the slab fills the box: every sample is inside it
    out = render_rays(o, d, slab_field(sigma0, 0.0, L), StratifiedSampler(num_samples=7), near=0.0, far=10.0, aabb=aabb)
    path = L / d[:, 2]  # slanted rays cross more of the slab
    assert torch.allclose(out["opacity"], 1 - torch.exp(-sigma0 * path), atol=1e-5)
    # the slab inside a bigger box: discretisation only at the slab's faces
    big = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0 + L]])
    out = render_rays(o, d, slab_field(sigma0, 0.0, L), StratifiedSampler(num_samples=2048), aabb=big)
    assert torch.allclose(out["opacity"], 1 - torch.exp(-sigma0 * path), atol=2e-3)


def random_rays_samples(R=6, S=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    edges = torch.sort(torch.rand(R, S + 1, generator=g) * 4 + 1, -1).values
    sigma = torch.rand(R, S, generator=g) * 3
    rgb = torch.rand(R, S, 3, generator=g)
    return sigma, rgb, edges[:, :-1], edges[:, 1:]


def test_packed_and_dense_agree_including_variable_counts():
    sigma, rgb, ts, te = random_rays_samples()
    R, S = sigma.shape
    dense = composite_dense(sigma, rgb, ts, te)
    ids = torch.arange(R).repeat_interleave(S)
    packed = composite(sigma.reshape(-1), rgb.reshape(-1, 3), ts.reshape(-1), te.reshape(-1), ids, R)
    for k in ("rgb", "opacity", "depth"):
        assert torch.allclose(dense[k], packed[k], atol=1e-6), k
    assert torch.allclose(dense["weights"].reshape(-1), packed["weights"], atol=1e-6)
    # drop samples: packed without them == dense with zero density there (and an empty ray renders nothing)
    keep = torch.rand(R, S, generator=torch.Generator().manual_seed(1)) > 0.4
    keep[2] = False
    dense0 = composite_dense(sigma * keep, rgb, ts, te)
    k = keep.reshape(-1)
    packed0 = composite(sigma.reshape(-1)[k], rgb.reshape(-1, 3)[k], ts.reshape(-1)[k], te.reshape(-1)[k], ids[k], R)
    for key in ("rgb", "opacity", "depth"):
        assert torch.allclose(dense0[key], packed0[key], atol=1e-6), key
    assert packed0["opacity"][2] == 0 and packed0["depth"][2] == 0


def test_opacity_never_exceeds_one():
    sigma, rgb, ts, te = random_rays_samples(R=50, S=64, seed=3)
    sigma = sigma * 10 ** torch.linspace(-2, 7, 50)[:, None]  # up to huge densities
    dense = composite_dense(sigma, rgb, ts, te)
    assert (dense["opacity"] <= 1).all() and (dense["opacity"] >= 0).all()
    ids = torch.arange(50).repeat_interleave(64)
    packed = composite(sigma.reshape(-1), rgb.reshape(-1, 3), ts.reshape(-1), te.reshape(-1), ids, 50)
    assert (packed["opacity"] <= 1).all()
    assert torch.allclose(packed["weights"].reshape(50, 64).sum(-1), packed["opacity"], atol=1e-5)
    assert (packed["rgb"] <= 1 + 1e-5).all()


def test_gradients_flow_to_sigma_and_rgb():
    sigma, rgb, ts, te = (x.double() for x in random_rays_samples(R=3, S=4))
    R, S = sigma.shape
    ids = torch.arange(R).repeat_interleave(S)

    def packed(sig, col):
        out = composite(sig, col, ts.reshape(-1), te.reshape(-1), ids, R)
        return out["rgb"], out["opacity"], out["depth"]

    def dense(sig, col):
        out = composite_dense(sig, col, ts, te)
        return out["rgb"], out["opacity"], out["depth"]

    s, c = sigma.reshape(-1).requires_grad_(), rgb.reshape(-1, 3).requires_grad_()
    assert torch.autograd.gradcheck(packed, (s, c))
    assert torch.autograd.gradcheck(dense, (sigma.clone().requires_grad_(), rgb.clone().requires_grad_()))


def sphere_field(p, d):
    r = p.norm(dim=-1)
    x = ((0.55 - r) / 0.1).clamp(0, 1)
    return 30 * x * x * (3 - 2 * x), (p * 0.5 + 0.5).clamp(0, 1)


def test_render_image_shapes_chunks_and_background():
    cams = orbit_cameras([2.5, 2.5], 90.0, [0.0, 90.0], 45.0, (10, 8))
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    sampler = StratifiedSampler(num_samples=32)
    a = render_image(cams, sphere_field, sampler, aabb=aabb, chunk=7)
    b = render_image(cams, sphere_field, sampler, aabb=aabb)
    assert a["rgb"].shape == (2, 8, 10, 3) and a["opacity"].shape == a["depth"].shape == (2, 8, 10)
    for k in ("rgb", "opacity", "depth"):
        assert torch.allclose(a[k], b[k], atol=1e-6)
    assert a["num_samples"] == b["num_samples"] == 2 * 8 * 10 * 32  # every ray hits the box
    assert a["opacity"][:, 4, 5].min() > 0.99 and a["opacity"][:, 0, 0].max() < 1e-3  # centre vs corner
    # hit depth: the soft surface (density ramps up from r = 0.55 to 0.45) lies about 2.5 - 0.5 away
    assert 1.95 < float(a["depth"][0, 4, 5]) < 2.1
    c = render_image(cams, sphere_field, sampler, aabb=aabb, background=(0.0, 1.0, 0.0))
    assert torch.allclose(c["rgb"], b["rgb"] + (1 - b["opacity"])[..., None] * torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    sky = lambda dirs: dirs * 0.5 + 0.5  # noqa: E731  background as a function of the ray direction
    e = render_image(cams, sphere_field, sampler, aabb=aabb, background=sky)
    from renderers.rays import pixel_rays

    _, dirs = pixel_rays(cams)
    assert torch.allclose(e["rgb"][:, 0, 0], dirs[:, 0, 0] * 0.5 + 0.5, atol=1e-3)  # a corner ray misses the sphere


def test_rays_missing_the_box_get_no_samples_and_errors_name_the_fix():
    o = torch.tensor([[5.0, 5.0, 5.0], [0.0, 0.0, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    calls = []

    def field(p, dd):
        calls.append(p.shape[0])
        return sphere_field(p, dd)

    out = render_rays(o, d, field, StratifiedSampler(num_samples=16), aabb=aabb, background=1.0)
    assert out["num_samples"] == 16 and calls == [16]
    assert torch.allclose(out["rgb"][0], torch.ones(3)) and out["opacity"][0] == 0
    with pytest.raises(RenderError, match="far"):
        render_rays(o, d, field, StratifiedSampler(num_samples=4))
    with pytest.raises(RenderError, match="background"):
        render_rays(o, d, field, StratifiedSampler(num_samples=4), aabb=aabb, background=(1.0, 0.0))


def test_backend_selection():
    assert resolve_backend("torch") == "torch"
    with pytest.raises(RenderError, match="backend"):
        resolve_backend("cuda-magic")
    if not nerfacc_available():
        with pytest.warns(RuntimeWarning, match="nerfacc"):
            assert resolve_backend("nerfacc") == "torch"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert resolve_backend("auto") == "torch"


@pytest.mark.skipif(not nerfacc_available(), reason="nerfacc backend needs CUDA and nerfacc")
def test_nerfacc_composite_matches_torch():
    from renderers.accel import composite_nerfacc

    sigma, rgb, ts, te = random_rays_samples(R=40, S=32, seed=5)
    keep = torch.rand(40, 32, generator=torch.Generator().manual_seed(2)) > 0.3
    ids = torch.arange(40).repeat_interleave(32)[keep.reshape(-1)]
    args = [x.reshape(-1, *x.shape[2:])[keep.reshape(-1)] for x in (sigma, rgb, ts, te)]
    ref = composite(*args, ids, 40)
    got = composite_nerfacc(*(a.cuda() for a in args), ids.cuda(), 40)
    for k in ("rgb", "opacity", "depth", "weights"):
        assert torch.allclose(got[k].cpu(), ref[k], atol=1e-4), k


def test_early_stop_skips_samples_behind_opaque_surfaces():
    o = torch.tensor([[0.0, 0.0, -2.0], [0.3, 0.0, -2.0], [5.0, 0.0, -2.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    k = torch.tensor(1.0, requires_grad=True)

    def field(p, dd):  # opaque slab behind a thin translucent one; colour varies with depth
        sigma = torch.where(p[:, 2] > 0.0, 200.0, torch.where(p[:, 2] > -0.5, 0.5, 0.0))
        return sigma * k, torch.stack([p[:, 2] * 0.5 + 0.5, p[:, 0].abs(), torch.ones_like(p[:, 0])], -1)

    sampler = StratifiedSampler(num_samples=256)
    full = render_rays(o, d, field, sampler, aabb=aabb)
    fast = render_rays(o, d, field, sampler, aabb=aabb, early_stop=1e-4)
    for key in ("rgb", "opacity", "depth"):
        assert torch.allclose(full[key], fast[key], atol=2e-4), key
    assert fast["num_samples"] < 0.65 * full["num_samples"]  # the back half of the box is never evaluated
    fast["rgb"].sum().backward()
    assert k.grad is not None and torch.isfinite(k.grad) and k.grad.abs() > 0
