"""The embedded tiny prior: shipped weights load offline and honour the prior contract; batch sampling and the SDS
gradient against references written out here; spec conditioning (CIELAB colours against published values, the null
condition, garments as a set, keys that round-trip); the training batches and step."""

from __future__ import annotations

import json

import pytest
import torch

from priors.errors import PriorError
from priors.sds import SDSConfig
from priors.tiny import TinyPrior, TinyPriorConfig, load_tiny_prior, sample_batch, save_tiny_prior
from priors.tiny.model import UNetConfig
from priors.tiny.prior import CONFIG_FILE, WEIGHTS_DIR, WEIGHTS_FILE
from priors.tiny.spec_encoder import (
    VIEWS, SpecEncoderConfig, condition_key, read_condition, spec_fields, srgb_to_lab,
)  # fmt: skip
from prompts.spec import Body, Garment, Hair, Skin, Spec


def _spec(**kw) -> Spec:
    g = [Garment("top", "t-shirt", "#c81e1e"), Garment("bottom", "skirt", "#1e3cc8", length=0.6),
         Garment("back", "cape", "#208040", pattern="stripes", color2="#f0f0f0")]  # fmt: skip
    return Spec(body=Body(gender=1.0, age=0.4), skin=Skin("#d9a67e"), hair=Hair("long", "#2a1a10"),
                garments=kw.pop("garments", g), **kw)  # fmt: skip


def _pose_image(size: int = 64) -> torch.Tensor:
    """A crude stick figure in OpenPose-like colours on black: 1 x 3 x size x size."""
    img = torch.zeros(1, 3, size, size)
    c = size // 2
    img[0, 0, size // 8 : size - size // 8, c - 1 : c + 1] = 1.0
    img[0, 1, size // 3, size // 4 : size - size // 4] = 1.0
    return img


def _small_prior(resolution: int = 16) -> TinyPrior:
    torch.manual_seed(0)
    cfg = TinyPriorConfig(unet=UNetConfig(resolution=resolution, channels=[16, 32], cross_attention_level=1,
                                          cross_attention_dim=32),  # fmt: skip
                          spec=SpecEncoderConfig(dim=32, max_garments=4, layers=1, heads=2))
    return TinyPrior(cfg).eval()


@pytest.fixture(scope="module")
def small():
    return _small_prior()


# ---- the shipped weights -------------------------------------------------------------------------------------------
def test_shipped_weights_are_small_fp16_and_load_offline():
    from safetensors import safe_open

    prior = load_tiny_prior()
    path = WEIGHTS_DIR / WEIGHTS_FILE
    assert path.stat().st_size <= 20 * 2**20
    with safe_open(str(path), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    cfg = json.loads((WEIGHTS_DIR / CONFIG_FILE).read_text())
    assert cfg["unet"]["resolution"] == prior.resolution == 32 and cfg["trained_steps"] > 0
    assert prior.num_train_timesteps == 1000 and prior.alphas_cumprod().shape == (1000,)
    assert prior.model_id and prior.model_id.startswith("tiny:")
    assert all(p.dtype == torch.float32 for p in prior.parameters())
    emb = prior.encode_text([condition_key(_spec(), "front"), ""])
    assert emb.shape == (2, 4 + prior.cfg.spec.max_garments, prior.cfg.spec.dim)


# ---- spec conditioning ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rgb, lab",
    [((1, 1, 1), (100.0, 0.0, 0.0)), ((0, 0, 0), (0.0, 0.0, 0.0)), ((1, 0, 0), (53.24, 80.09, 67.20)),
     ((0, 1, 0), (87.73, -86.18, 83.18)), ((0, 0, 1), (32.30, 79.19, -107.86))],
)  # fmt: skip
def test_cielab_matches_published_values(rgb, lab):
    """sRGB primaries in CIELAB (D65), as tabulated by the CIE formulas (e.g. Lindbloom's calculator)."""
    assert srgb_to_lab(rgb) == pytest.approx(lab, abs=0.1)


def test_condition_keys_round_trip_and_the_null_condition():
    spec = _spec()
    key = condition_key(spec, "back")
    back, view = read_condition(key)
    assert view == "back" and back.key() == spec.key()
    assert condition_key(None, "front") == "" and read_condition("") == (None, None)
    f = spec_fields([(None, None), (spec, "side")], max_garments=4)
    assert not f.body_on[0] and not f.g_on[0].any() and int(f.view[0]) == len(VIEWS)
    assert f.g_on[1].tolist() == [True, True, True, False] and int(f.view[1]) == VIEWS.index("side")
    # the second colour only counts for a two-colour pattern; length and sleeves resolve to the kind's defaults
    assert f.g_color2[1, 0].abs().sum() == 0 and f.g_color2[1, 2].abs().sum() > 0
    assert f.g_shape[1, 1, 0] == pytest.approx(2 * 0.6 - 1) and f.g_shape[1, 1, 2] == 1.0


def test_garments_are_a_set_and_each_part_changes_the_tokens(small):
    spec = _spec()
    rev = _spec(garments=list(reversed(spec.garments)))
    e = small.encode_specs([(spec, "front"), (rev, "front")])
    x, t, cond = torch.randn(1, 3, 16, 16), torch.tensor([300]), _pose_image(16)
    with torch.no_grad():
        a = small.predict_noise(x, t, e[:1], cond)
        b = small.predict_noise(x, t, e[1:], cond)
    assert torch.allclose(a, b, atol=1e-5)  # cross-attention over a set: the garments' order does not matter
    base = small.encode_specs([(spec, "front")])
    variants = {
        "view": (spec, "back"),
        "colour": (_spec(garments=[Garment("top", "t-shirt", "#1ec81e")] + spec.garments[1:]), "front"),
        "kind": (_spec(garments=[Garment("top", "hoodie", "#c81e1e")] + spec.garments[1:]), "front"),
        "body": (Spec(body=Body(gender=1.0, age=0.1), skin=spec.skin, hair=spec.hair, garments=spec.garments), "front"),
        "no hair": (Spec(body=spec.body, skin=spec.skin, hair=None, garments=spec.garments), "front"),
    }
    for name, item in variants.items():
        assert (small.encode_specs([item]) - base).abs().max() > 1e-3, name
    null = small.encode_specs([(None, None), (None, None)])
    assert torch.equal(null[0], null[1]) and (null[0] - base[0]).abs().max() > 1e-3


# ---- shared algorithms against references --------------------------------------------------------------------------
def _reference_ddim(prior, conds, cond, x, steps, scale, clip):
    """DDIM (eta 0) with CFG written out from the formulas, one timestep after another (the test's own copy):
    x0 = (x - sqrt(1 - a_t) e) / sqrt(a_t), clipped, e re-derived, x <- sqrt(a_prev) x0 + sqrt(1 - a_prev) e."""
    R = prior.resolution
    ac = prior.alphas_cumprod().double()
    ts = [round(999 - i * 999 / (steps - 1)) for i in range(steps)]
    cond = torch.nn.functional.interpolate(cond, size=(R, R), mode="area")
    emb, null = prior.encode_text(conds), prior.encode_text([""] * len(conds))
    x = x.double()
    for i, t in enumerate(ts):
        tt = torch.full((x.shape[0],), t)
        with torch.no_grad():
            e_u = prior.predict_noise(x.float(), tt, null, cond).double()
            e_c = prior.predict_noise(x.float(), tt, emb, cond).double()
        e = e_u + scale * (e_c - e_u)
        a, a_prev = ac[t], (ac[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, dtype=torch.float64))
        x0 = ((x - (1 - a).sqrt() * e) / a.sqrt()).clamp(-clip, clip)
        e = (x - a.sqrt() * x0) / (1 - a).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e
    return ((x0 + 1) / 2).clamp(0, 1).float()


def test_batch_sampling_is_the_shared_ddim_at_every_batch_size(small):
    """`sample_batch` (through `priors.sds.ddim_sample`) against a DDIM written out here, from the same x_T: at
    batch 1, and at batch 2 where each image must come out as if sampled alone; `sample` is the same at batch 1."""
    conds = [condition_key(_spec(), "front"), condition_key(_spec(garments=[]), "side")]
    cond = torch.cat([_pose_image(), _pose_image().flip(-1)])
    # float32 UNet calls batched [uncond; cond] against the reference's separate calls: oneDNN's kernels differ by
    # batch size (about 1e-7 relative), and x0 = (x - ...) / sqrt(a_t) multiplies that by up to 157 at t = 999; 1.0001e-4
    # was seen on an AVX-512 EPYC. Any error in the schedule or formulas moves pixels by 1e-2 or more.
    atol = 3e-4
    for n in (1, 2):
        x_T = torch.randn((n, 3, 16, 16), generator=torch.Generator().manual_seed(7))
        got = sample_batch(small, conds[:n], cond[:n], steps=4, guidance_scale=3.0,
                           generator=torch.Generator().manual_seed(7))  # fmt: skip
        ref = _reference_ddim(small, conds[:n], cond[:n], x_T, steps=4, scale=3.0, clip=1.0)
        assert torch.allclose(got, ref, atol=atol), (n, (got - ref).abs().max())
        for i in range(n):  # batching does not mix the images
            alone = _reference_ddim(small, conds[i : i + 1], cond[i : i + 1], x_T[i : i + 1], 4, 3.0, 1.0)
            assert torch.allclose(got[i : i + 1], alone, atol=atol)
    x_T = torch.randn((1, 3, 16, 16), generator=torch.Generator().manual_seed(3))
    img = small.sample(conds[0], cond[:1], steps=3, guidance_scale=2.0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(img, _reference_ddim(small, conds[:1], cond[:1], x_T, 3, 2.0, 1.0), atol=atol)


def test_sds_gradient_on_the_render_is_the_formula(small):
    """At the prior's own size (no resampling) x0 = 2 rgb - 1, so d loss / d rgb = 2 (e_hat - eps) / ||e_hat - eps||
    with e_hat the guided prediction at the fixed t and noise (uniform weighting, batch 1)."""
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, 16, 16, generator=g).requires_grad_(True)
    noise, t, key = torch.randn(1, 3, 16, 16, generator=g), torch.tensor([400]), condition_key(_spec(), "front")
    small.sds(rgb, _pose_image(), key, SDSConfig(guidance_scale=4.0), t=t, noise=noise).loss.backward()
    a = small.alphas_cumprod()[400]
    x_t = a.sqrt() * (2 * rgb.detach() - 1) + (1 - a).sqrt() * noise
    cond = torch.nn.functional.interpolate(_pose_image(), size=(16, 16), mode="area")
    with torch.no_grad():
        e_u = small.predict_noise(x_t, t, small.encode_text([""]), cond)
        e_c = small.predict_noise(x_t, t, small.encode_text([key]), cond)
    diff = e_u + 4.0 * (e_c - e_u) - noise
    assert torch.allclose(rgb.grad, 2 * diff / diff.norm(), atol=1e-5)
    # with in_range (a pixel prior) the guided x0 estimate the gradient pulls toward stays in the image range
    rgb2 = rgb.detach().clone().requires_grad_(True)
    cfg = SDSConfig(guidance_scale=4.0, normalize=False, in_range=True)
    small.sds(rgb2, _pose_image(), key, cfg, t=t, noise=noise).loss.backward()
    x0_hat = (x_t - (1 - a).sqrt() * (rgb2.grad / 2 + noise)) / a.sqrt()
    plain = (x_t - (1 - a).sqrt() * (diff + noise)) / a.sqrt()
    assert plain.abs().max() > 1.2 and x0_hat.abs().max() <= 1 + 1e-4


def test_conditions_are_one_spec_key_per_camera_view(small):
    spec = _spec()
    keys = small.conditions("ignored when a spec is given", [0.0, 100.0, 180.0, 350.0], spec=spec)
    assert [read_condition(k)[1] for k in keys] == ["front", "side", "back", "front"]
    assert all(read_condition(k)[0].key() == spec.key() for k in keys)


# ---- weights on disk -----------------------------------------------------------------------------------------------
def test_save_load_round_trip_and_missing_weights(tmp_path, small):
    save_tiny_prior(small, tmp_path)
    q = load_tiny_prior(tmp_path)
    x, t, key = torch.randn(1, 3, 16, 16), torch.tensor([500]), condition_key(_spec(), "front")
    with torch.no_grad():
        a = small.predict_noise(x, t, small.encode_text([key]), _pose_image(16))
        b = q.predict_noise(x, t, q.encode_text([key]), _pose_image(16))
    assert torch.allclose(a, b, atol=2e-2)  # fp16 storage
    with pytest.raises(PriorError, match="train_tiny_prior"):
        load_tiny_prior(tmp_path / "nowhere")
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(PriorError, match="unreadable"):
        load_tiny_prior(tmp_path)


# ---- training ------------------------------------------------------------------------------------------------------
def _toy_data(n: int = 64, size: int = 16) -> dict:
    import numpy as np

    g = torch.Generator().manual_seed(1)
    specs = [_spec(garments=[Garment("top", "t-shirt", "#%06x" % int(torch.randint(0, 2**24, (1,), generator=g))),
                             Garment("bottom", "trousers", "#202020"), Garment("feet", "boots", "#603010",
                                                                               material="leather")])
             for _ in range(n)]  # fmt: skip
    return {
        "rgb": (torch.rand(n, size, size, 3, generator=g) * 255).to(torch.uint8).numpy(),
        "cond": (torch.rand(n, size, size, 3, generator=g) * 255).to(torch.uint8).numpy(),
        "specs": np.array([s.to_json() for s in specs]),
        "views": np.array([VIEWS[i % 3] for i in range(n)]),
    }


def test_batches_are_deterministic_and_drop_parts_at_their_rates():
    from training import train_tiny_prior as mod

    cfg = mod.TrainConfig(batch_size=512, p_uncond=0.1, p_drop_garment=0.2)
    data = mod.Batches(_toy_data(), cfg, max_garments=4)
    a, b = data.get(5), data.get(5)
    assert torch.equal(a[0], b[0]) and all(torch.equal(x, y) for x, y in zip(vars(a[2]).values(), vars(b[2]).values()))
    f = a[2]
    uncond = ~f.body_on & ~f.skin_on & ~f.hair_on & ~f.g_on.any(1)
    assert 0.05 < float(uncond.float().mean()) < 0.17  # p_uncond plus the rare all-parts drop
    worn = f.g_on[~uncond].sum(1).float().mean()  # 3 garments, each kept with 0.8
    assert 2.2 < float(worn) < 2.6
    # shuffling moves garments between slots but keeps each garment's fields together
    kinds = f.g_kind[f.g_on]
    assert set(kinds.tolist()) <= {mod.KINDS.index(k) for k in ("t-shirt", "trousers", "boots")}
    boots = f.g_kind == mod.KINDS.index("boots")
    assert (f.g_material[boots & f.g_on] == 2).all()  # leather (MATERIALS index 2) travels with the boots


def test_training_step_reduces_the_loss_on_a_fixed_batch():
    from training import train_tiny_prior as mod

    p = _small_prior().train()
    data = mod.Batches(_toy_data(8), mod.TrainConfig(batch_size=4, p_uncond=0.0), max_garments=4)
    x0, cond, fields, _ = data.get(0)
    opt = torch.optim.Adam(p.parameters(), lr=2e-3)

    def loss_at(seed: int) -> torch.Tensor:  # the same timesteps and noise every time
        return mod.train_step(p, x0, cond, fields, torch.Generator().manual_seed(seed))

    with torch.no_grad():
        before = sum(float(loss_at(s)) for s in range(3))
    for i in range(25):
        loss = loss_at(i % 3)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = sum(float(loss_at(s)) for s in range(3))
    assert after < 0.8 * before
