"""Score distillation, guidance, weighting, schedules, the text-embedding caches and DDIM sampling (priors.base,
priors.sds), checked on a small analytic pixel-space prior whose every quantity can be written down by hand."""

from __future__ import annotations

import math

import pytest
import torch

from priors.base import PosePrior
from priors.errors import PriorError
from priors.sds import SDSConfig, ddim_sample, scheduled_value, surrogate_loss, timestep_range

R = 8  # the toy prior's resolution
T = 1000


def linear_alphas() -> torch.Tensor:
    return torch.cumprod(1 - torch.linspace(1e-4, 0.02, T), 0)


class ToyPrior(PosePrior):
    """x0 = 2 rgb - 1 at R px; eps(x_t, t, e, c) = 0.3 x_t + mean(e) + 0.5 c - 0.1 t/T: every term is checkable."""

    resolution = R

    def __init__(self, model_id: str | None = None, cache_dir=None):
        super().__init__()
        self.model_id = model_id
        self.text_cache_dir = cache_dir
        self.encode_calls = 0
        self.scale = torch.nn.Parameter(torch.ones(()))  # a parameter so `device` has something to look at

    def encode_text(self, prompts):
        self.encode_calls += 1
        # a deterministic "encoder": the prompt's length and first letter set a 4 x 3 embedding
        rows = [torch.full((4, 3), (len(p) + (ord(p[0]) if p else 0)) / 100.0) for p in prompts]
        return torch.stack(rows) * self.scale

    def encode_images(self, rgb):
        return rgb * 2 - 1

    def decode(self, x0):
        return ((x0 + 1) / 2).clamp(0, 1)

    def predict_noise(self, x_t, t, text_emb, cond):
        e = text_emb.mean(dim=(1, 2)).view(-1, 1, 1, 1)
        return 0.3 * x_t + e + 0.5 * cond - 0.1 * (t.float() / T).view(-1, 1, 1, 1)

    def alphas_cumprod(self):
        return linear_alphas()


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMAVATAR_TEXT_CACHE", str(tmp_path / "default_cache"))
    return ToyPrior().eval()


def hand_sds_grad(rgb, cond, prompts, t, noise, cfg: SDSConfig, scales=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The expected d loss / d rgb and ||eps_hat - eps||, written out from the formulas (scales: one CFG scale per
    sample instead of cfg.guidance_scale)."""
    B = rgb.shape[0]
    x0 = 2 * rgb - 1
    a = linear_alphas()[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise

    def emb_mean(p: str) -> float:
        return (len(p) + (ord(p[0]) if p else 0)) / 100.0

    tt = (t.float() / T).view(-1, 1, 1, 1)
    e_c = 0.3 * x_t + torch.tensor([emb_mean(p) for p in prompts]).view(-1, 1, 1, 1) + 0.5 * cond - 0.1 * tt
    e_u = 0.3 * x_t + emb_mean(cfg.negative_prompt) + 0.5 * cond - 0.1 * tt
    s = cfg.guidance_scale if scales is None else torch.tensor(scales).view(-1, 1, 1, 1)
    e_hat = e_u + s * (e_c - e_u)
    diff = e_hat - noise
    norm = diff.flatten(1).norm(dim=1)
    w = {"uniform": torch.ones_like(a), "sds": 1 - a, "fantasia": a.sqrt() * (1 - a)}[cfg.weighting]
    g = w * (diff / norm.view(-1, 1, 1, 1) if cfg.normalize else diff)
    if cfg.grad_clip is not None:
        g = g.clamp(-cfg.grad_clip, cfg.grad_clip)
    return 2 * g / B, norm  # d x0 / d rgb = 2; the surrogate loss is summed / B


@pytest.mark.parametrize("weighting", ["uniform", "sds", "fantasia"])
@pytest.mark.parametrize("normalize", [True, False])
def test_sds_gradient_matches_formulas(toy, weighting, normalize):
    B = 3
    g = torch.Generator().manual_seed(1)
    rgb = torch.rand(B, 3, R, R, generator=g).requires_grad_(True)
    cond = torch.rand(B, 3, R, R, generator=g)
    prompts = ["a man", "a red robot", "front view of a chef"]
    t = torch.tensor([20, 500, 980])
    noise = torch.randn(B, 3, R, R, generator=g)
    cfg = SDSConfig(guidance_scale=7.0, weighting=weighting, normalize=normalize, negative_prompt="blurry")
    out = toy.sds(rgb, cond, prompts, cfg, t=t, noise=noise)
    out.loss.backward()
    want_grad, want_norm = hand_sds_grad(rgb.detach(), cond, prompts, t, noise, cfg)
    torch.testing.assert_close(out.grad_norm, want_norm, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rgb.grad, want_grad, rtol=1e-5, atol=1e-6)
    assert out.timesteps.tolist() == t.tolist()
    if normalize and weighting == "uniform":  # unit L2 per sample: ||d loss / d x0|| = 1 / B
        per_sample = (rgb.grad / 2).flatten(1).norm(dim=1)
        torch.testing.assert_close(per_sample, torch.full((B,), 1 / B))


def test_guidance_scale_one_is_the_conditional_prediction_and_clip_clamps(toy):
    rgb = torch.rand(2, 3, R, R).requires_grad_(True)
    cond, noise, t = torch.rand(2, 3, R, R), torch.randn(2, 3, R, R), torch.tensor([100, 700])
    cfg = SDSConfig(guidance_scale=1.0, normalize=False, negative_prompt="something else entirely")
    toy.sds(rgb, cond, "a man", cfg, t=t, noise=noise).loss.backward()
    # with s = 1 the negative prompt drops out: same gradient as with any other negative prompt
    rgb2 = rgb.detach().clone().requires_grad_(True)
    cfg2 = SDSConfig(guidance_scale=1.0, normalize=False, negative_prompt="")
    toy.sds(rgb2, cond, "a man", cfg2, t=t, noise=noise).loss.backward()
    torch.testing.assert_close(rgb.grad, rgb2.grad)
    # element-wise clipping
    rgb3 = rgb.detach().clone().requires_grad_(True)
    cfg3 = SDSConfig(guidance_scale=50.0, normalize=False, grad_clip=0.05)
    toy.sds(rgb3, cond, "a man", cfg3, t=t, noise=noise).loss.backward()
    want, _ = hand_sds_grad(rgb.detach(), cond, ["a man"] * 2, t, noise, cfg3)
    torch.testing.assert_close(rgb3.grad, want)
    assert rgb3.grad.abs().max() <= 2 * 0.05 / 2 + 1e-7 and (rgb3.grad.abs() == 0.05).any()


def test_guidance_scale_by_timestep(toy):
    """guidance_t_schedule [0.3, 1, 7.5, 0.6]: scale 1 up to t = 0.3 T, 7.5 from 0.6 T, linear between (each sample
    its own scale)."""
    g = torch.Generator().manual_seed(2)
    rgb = torch.rand(4, 3, R, R, generator=g).requires_grad_(True)
    cond, noise = torch.rand(4, 3, R, R, generator=g), torch.randn(4, 3, R, R, generator=g)
    t = torch.tensor([20, 450, 500, 980])  # T = 1000
    cfg = SDSConfig(guidance_scale=7.5, guidance_t_schedule=[0.3, 1.0, 7.5, 0.6], negative_prompt="blurry")
    out = toy.sds(rgb, cond, "a man", cfg, t=t, noise=noise)
    out.loss.backward()
    want_grad, want_norm = hand_sds_grad(rgb.detach(), cond, ["a man"] * 4, t, noise, cfg, [1.0, 4.25, 5.333333, 7.5])
    torch.testing.assert_close(out.grad_norm, want_norm, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rgb.grad, want_grad, rtol=1e-5, atol=1e-6)


def test_renders_of_other_sizes_are_resampled(toy):
    rgb = torch.rand(1, 3, 4 * R, 4 * R).requires_grad_(True)
    out = toy.sds(rgb, torch.rand(1, 3, 16, 16), ["a man"], SDSConfig(), generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert rgb.grad.shape == rgb.shape and rgb.grad.abs().sum() > 0
    # area downsampling spreads each prior pixel's gradient evenly over its 4 x 4 block
    blocks = rgb.grad.unfold(2, 4, 4).unfold(3, 4, 4)
    torch.testing.assert_close(blocks.amax(dim=(-1, -2)), blocks.amin(dim=(-1, -2)))


def test_surrogate_loss_gradient_is_grad_over_batch():
    x0 = torch.randn(4, 4, 5, 5, requires_grad=True)
    g = torch.randn(4, 4, 5, 5)
    loss = surrogate_loss(x0, g)
    loss.backward()
    torch.testing.assert_close(x0.grad, g / 4)
    torch.testing.assert_close(loss, 0.5 * g.pow(2).sum() / 4)


def test_timesteps_stay_in_range_and_anneal(toy):
    cfg = SDSConfig()
    assert timestep_range(cfg, T) == (20, 980)
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(64, 3, R, R)
    ts = toy.sds(rgb, torch.rand(64, 3, R, R), "a", cfg, generator=gen).timesteps
    assert ts.min() >= 20 and ts.max() <= 980 and ts.unique().numel() > 40
    sched = SDSConfig(t_max_schedule=[100, 0.98, 0.5, 300])
    assert [scheduled_value(0.98, sched.t_max_schedule, s) for s in (0, 100, 200, 300, 1000)] == pytest.approx(
        [0.98, 0.98, 0.74, 0.5, 0.5]
    )
    ts = toy.sds(rgb, torch.rand(64, 3, R, R), "a", sched, generator=gen, step=400).timesteps
    assert ts.min() >= 20 and ts.max() <= 500
    with pytest.raises(ValueError, match="weighting"):
        toy.sds(rgb[:1], rgb[:1], "a", SDSConfig(weighting="nope"))


def test_prompt_count_must_match_batch(toy):
    rgb = torch.rand(3, 3, R, R)
    with pytest.raises(PriorError, match="2 prompts for 3 images"):
        toy.sds(rgb, rgb, ["a", "b"])
    with pytest.raises(PriorError, match="non-empty"):
        toy.sds(rgb, rgb, [])


def test_embedding_cache_memory_then_disk(tmp_path):
    prior = ToyPrior(model_id="toy-v1", cache_dir=tmp_path / "cache").eval()
    first = prior.embed(["a man", "a woman", "a man"])
    assert prior.encode_calls == 1 and first.shape == (3, 4, 3)
    torch.testing.assert_close(first[0], first[2])
    again = prior.embed(["a woman", "a man"])
    assert prior.encode_calls == 1  # served from memory
    torch.testing.assert_close(again, first[[1, 0]])
    files = sorted((tmp_path / "cache").rglob("*.pt"))
    assert len(files) == 2 and not list((tmp_path / "cache").rglob("*.tmp"))

    fresh = ToyPrior(model_id="toy-v1", cache_dir=tmp_path / "cache").eval()
    torch.testing.assert_close(fresh.embed(["a man", "a woman"]), first[:2])
    assert fresh.encode_calls == 0  # served from disk
    other_model = ToyPrior(model_id="toy-v2", cache_dir=tmp_path / "cache").eval()
    other_model.embed(["a man"])
    assert other_model.encode_calls == 1  # another model never reads this model's embeddings

    files[0].write_bytes(b"not a torch file")  # a damaged entry is re-encoded, not fatal
    damaged = ToyPrior(model_id="toy-v1", cache_dir=tmp_path / "cache").eval()
    torch.testing.assert_close(damaged.embed(["a man", "a woman"]), first[:2])
    assert damaged.encode_calls == 1


def test_no_disk_cache_without_model_id_or_when_training(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMAVATAR_TEXT_CACHE", str(tmp_path / "c"))
    prior = ToyPrior().eval()
    prior.embed(["a man"])
    prior.embed(["a man"])
    assert prior.encode_calls == 1 and not (tmp_path / "c").exists()
    prior.train()
    emb = prior.embed(["a man"])
    assert prior.encode_calls == 2 and emb.requires_grad  # a text encoder in training is never cached


def test_ddim_recovers_a_point_mass_with_the_exact_score():
    """For data that is always c, the exact eps is (x_t - sqrt(a) c) / sqrt(1 - a): DDIM must land on c."""
    ac = linear_alphas()
    c = torch.tensor([0.7, -0.2, 0.1]).view(1, 3, 1, 1).expand(1, 3, 4, 4)

    def eps_fn(x_t, t):
        a = ac[t].view(-1, 1, 1, 1)
        return (x_t - a.sqrt() * c) / (1 - a).sqrt()

    x_T = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ddim_sample(eps_fn, ac, x_T, steps=10), c, atol=1e-4, rtol=1e-4)
    # clipping x0 (pixel-space priors) leaves an in-range answer alone and tames a wild model
    torch.testing.assert_close(ddim_sample(eps_fn, ac, x_T, steps=10, clip_x0=1.0), c, atol=1e-4, rtol=1e-4)
    wild = ddim_sample(lambda x, t: -5 * x, ac, x_T, steps=10, clip_x0=1.0)
    assert wild.abs().max() <= 1.0 and ddim_sample(lambda x, t: -5 * x, ac, x_T, steps=10).abs().max() > 1.0


def test_sample_shape_range_and_seed(toy):
    cond = torch.rand(1, 3, 32, 32)
    a = toy.sample("a man", cond, steps=5, generator=torch.Generator().manual_seed(3))
    b = toy.sample("a man", cond, steps=5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (1, 3, R, R) and a.min() >= 0 and a.max() <= 1 and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    assert math.isclose(float(toy.alphas_cumprod()[0]), 1 - 1e-4, rel_tol=1e-6)


class PixelToyPrior(ToyPrior):
    x0_clip = 1.0  # a pixel-space prior: its x0 estimates have the image range


@pytest.mark.parametrize("in_range", [True, False])
def test_pixel_prior_guidance_keeps_x0_in_the_image_range(tmp_path, monkeypatch, in_range):
    """A pixel prior's guided x0 estimate (what SDS pulls the render toward) stays in [-1, 1]: each pixel's guided x0
    is scaled by the largest factor in (0, 1] that puts all its channels in range (found here by bisection), so its
    hue seen from mid-grey is kept; `in_range=False` is plain CFG."""
    monkeypatch.setenv("DREAMAVATAR_TEXT_CACHE", str(tmp_path))
    toy = PixelToyPrior().eval()
    g = torch.Generator().manual_seed(3)
    rgb = torch.rand(2, 3, R, R, generator=g).requires_grad_(True)
    cond, noise, t = torch.rand(2, 3, R, R, generator=g), torch.randn(2, 3, R, R, generator=g), torch.tensor([20, 800])
    cfg = SDSConfig(guidance_scale=7.5, normalize=False, negative_prompt="", in_range=in_range)
    toy.sds(rgb, cond, "a man in a blue coat", cfg, t=t, noise=noise).loss.backward()

    x0 = 2 * rgb.detach() - 1
    a = linear_alphas()[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    e_u, e_c = (toy.predict_noise(x_t, t, toy.embed([p] * 2), cond) for p in ("", "a man in a blue coat"))
    x0_g = (x_t - (1 - a).sqrt() * (e_u + 7.5 * (e_c - e_u))) / a.sqrt()
    ok = lambda f: ((f * x0_g).abs() <= 1 + 1e-6).all(1, keepdim=True)  # noqa: E731
    lo, hi = torch.zeros(2, 1, R, R), torch.ones(2, 1, R, R)
    for _ in range(40):  # bisection on the factor
        mid = (lo + hi) / 2
        lo, hi = torch.where(ok(mid), mid, lo), torch.where(ok(mid), hi, mid)
    factor = torch.where(ok(torch.ones_like(lo)), torch.ones_like(lo), lo)
    x0_want = factor * x0_g if in_range else x0_g
    x0_got = (x_t - (1 - a).sqrt() * (rgb.grad + noise)) / a.sqrt()  # d loss / d rgb = 2 (e_hat - eps) / B, B = 2
    torch.testing.assert_close(x0_got, x0_want, rtol=1e-4, atol=1e-4)
    assert (x0_g.abs() > 1.5).any() and (factor == 1).any()  # pixels out of range and in it
    if in_range:
        assert x0_got.abs().max() <= 1 + 1e-4


def test_multi_step_target_is_where_guided_ddim_from_x_t_arrives(tmp_path, monkeypatch):
    """`target_steps=K`: SDS pulls the render toward the x0 estimate that K DDIM steps of the guided prior reach from
    x_t (timesteps t, 2t/3, t/3 for K = 3, each x0 estimate clipped to the pixel range; the last estimate is the
    target), written out here one sample at a time; with normalize off, d loss / d x0 = (e' - eps) / B for that
    target's epsilon e'."""
    monkeypatch.setenv("DREAMAVATAR_TEXT_CACHE", str(tmp_path))
    toy = PixelToyPrior().eval()
    g = torch.Generator().manual_seed(5)
    rgb = torch.rand(2, 3, R, R, generator=g).requires_grad_(True)
    cond, noise, t = torch.rand(2, 3, R, R, generator=g), torch.randn(2, 3, R, R, generator=g), torch.tensor([30, 600])
    cfg = SDSConfig(guidance_scale=3.0, normalize=False, target_steps=3)
    toy.sds(rgb, cond, "a man in a blue coat", cfg, t=t, noise=noise).loss.backward()

    ac = linear_alphas()
    x0 = 2 * rgb.detach() - 1
    for i in range(2):
        a = ac[t[i]]
        x_t = a.sqrt() * x0[i : i + 1] + (1 - a).sqrt() * noise[i : i + 1]
        x = x_t
        steps = [round(float(t[i]) * k / 3) for k in (3, 2, 1)]
        for j, s in enumerate(steps):
            ts = torch.tensor([s])
            e_u, e_c = (toy.predict_noise(x, ts, toy.embed([p]), cond[i : i + 1]) for p in ("", "a man in a blue coat"))
            e = e_u + 3.0 * (e_c - e_u)
            est = ((x - (1 - ac[s]).sqrt() * e) / ac[s].sqrt()).clamp(-1, 1)
            e = (x - ac[s].sqrt() * est) / (1 - ac[s]).sqrt()
            a_prev = ac[steps[j + 1]] if j + 1 < len(steps) else torch.tensor(1.0)
            x = a_prev.sqrt() * est + (1 - a_prev).sqrt() * e
        e_target = (x_t - a.sqrt() * est) / (1 - a).sqrt()
        want = 2 * (e_target - noise[i : i + 1]) / 2  # d x0 / d rgb = 2; the loss is summed / B, B = 2
        torch.testing.assert_close(rgb.grad[i : i + 1], want, rtol=1e-4, atol=1e-5)
