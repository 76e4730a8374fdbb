"""The embedded tiny prior: shipped weights load offline and honour the prior contract; batch sampling and the SDS
gradient against references written out here; text slots and UNK; the training step learns."""

from __future__ import annotations

import json

import pytest
import torch

from priors.errors import PriorError
from priors.sds import SDSConfig
from priors.tiny import TinyPrior, TinyPriorConfig, load_tiny_prior, sample_batch, save_tiny_prior
from priors.tiny.model import UNetConfig
from priors.tiny.prior import CONFIG_FILE, WEIGHTS_DIR, WEIGHTS_FILE
from priors.tiny.text import NONE, SLOTS, UNK, TinyTextEncoder, parse_slots


@pytest.fixture(scope="module")
def prior():
    return load_tiny_prior()


def _pose_image(size: int = 64) -> torch.Tensor:
    """A crude stick figure in OpenPose-like colours on black: 1 x 3 x size x size."""
    img = torch.zeros(1, 3, size, size)
    c = size // 2
    img[0, 0, size // 8 : size - size // 8, c - 1 : c + 1] = 1.0
    img[0, 1, size // 3, size // 4 : size - size // 4] = 1.0
    return img


def test_shipped_weights_are_small_fp16_and_load_offline(prior):
    from safetensors import safe_open

    path = WEIGHTS_DIR / WEIGHTS_FILE
    assert path.stat().st_size <= 20 * 2**20
    with safe_open(str(path), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    cfg = json.loads((WEIGHTS_DIR / CONFIG_FILE).read_text())
    assert cfg["unet"]["resolution"] == prior.resolution == 32
    assert prior.num_train_timesteps == 1000 and prior.alphas_cumprod().shape == (1000,)
    assert prior.model_id and prior.model_id.startswith("tiny:")
    assert all(p.dtype == torch.float32 for p in prior.parameters())


def test_contract_hooks_shapes_and_ranges(prior):
    rgb = torch.rand(2, 3, 64, 64)
    x0 = prior.encode_images(rgb)
    assert x0.shape == (2, 3, 32, 32) and x0.min() >= -1 and x0.max() <= 1
    back = prior.decode(x0)
    assert torch.allclose(back, torch.nn.functional.interpolate(rgb, size=(32, 32), mode="area"), atol=1e-6)
    assert prior.decode(torch.full((1, 3, 32, 32), 5.0)).max() == 1.0
    emb = prior.encode_text(["front view of a man wearing a red t-shirt and blue trousers", ""])
    assert emb.shape == (2, len(SLOTS) + prior.cfg.text.free_tokens, prior.cfg.text.dim)
    t = torch.tensor([10, 900])
    with torch.no_grad():
        eps = prior.predict_noise(torch.randn(2, 3, 32, 32), t, emb, _pose_image().expand(2, -1, -1, -1))
    assert eps.shape == (2, 3, 32, 32) and torch.isfinite(eps).all()
    ac = prior.alphas_cumprod()
    assert (ac[1:] < ac[:-1]).all() and 0.99 < ac[0] <= 1 and ac[-1] < 0.01


def _reference_ddim(prior, prompts, cond, x, steps, scale, clip):
    """DDIM (eta 0) with CFG written out from the formulas, one timestep after another (the test's own copy):
    x0 = (x - sqrt(1 - a_t) e) / sqrt(a_t), clipped, e re-derived, x <- sqrt(a_prev) x0 + sqrt(1 - a_prev) e."""
    ac = prior.alphas_cumprod().double()
    ts = [round(999 - i * 999 / (steps - 1)) for i in range(steps)]
    cond = torch.nn.functional.interpolate(cond, size=(32, 32), mode="area")
    emb, null = prior.encode_text(prompts), prior.encode_text([""] * len(prompts))
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


def test_batch_sampling_is_the_shared_ddim_at_every_batch_size(prior):
    """`sample_batch` (through `priors.sds.ddim_sample`) against a DDIM written out here, from the same x_T: at
    batch 1, and at batch 2 where each image must come out as if sampled alone."""
    prompts = ["front view of a woman wearing a green t-shirt and black trousers", "side view of a man"]
    cond = torch.cat([_pose_image(), _pose_image().flip(-1)])
    for n in (1, 2):
        x_T = torch.randn((n, 3, 32, 32), generator=torch.Generator().manual_seed(7))
        got = sample_batch(prior, prompts[:n], cond[:n], steps=4, guidance_scale=3.0,
                           generator=torch.Generator().manual_seed(7))  # fmt: skip
        ref = _reference_ddim(prior, prompts[:n], cond[:n], x_T, steps=4, scale=3.0, clip=1.0)
        assert torch.allclose(got, ref, atol=1e-4), (n, (got - ref).abs().max())
        for i in range(n):  # batching does not mix the images
            alone = _reference_ddim(prior, prompts[i : i + 1], cond[i : i + 1], x_T[i : i + 1], 4, 3.0, 1.0)
            assert torch.allclose(got[i : i + 1], alone, atol=1e-4)
    # `sample` is the same sampler at batch 1 without the clip (the tiny prior sets no `x0_clip`)
    x_T = torch.randn((1, 3, 32, 32), generator=torch.Generator().manual_seed(3))
    img = prior.sample(prompts[0], cond[:1], steps=3, guidance_scale=2.0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(img, _reference_ddim(prior, prompts[:1], cond[:1], x_T, 3, 2.0, float("inf")), atol=1e-4)


def test_sds_gradient_on_the_render_is_the_formula(prior):
    """At the prior's own size (no resampling) x0 = 2 rgb - 1, so d loss / d rgb = 2 (e_hat - eps) / ||e_hat - eps||
    with e_hat the guided prediction at the fixed t and noise (uniform weighting, batch 1)."""
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, 32, 32, generator=g).requires_grad_(True)
    noise, t, prompt = torch.randn(1, 3, 32, 32, generator=g), torch.tensor([400]), "front view of a man"
    cfg = SDSConfig(guidance_scale=4.0)
    prior.sds(rgb, _pose_image(), prompt, cfg, t=t, noise=noise).loss.backward()
    a = prior.alphas_cumprod()[400]
    x_t = a.sqrt() * (2 * rgb.detach() - 1) + (1 - a).sqrt() * noise
    cond = torch.nn.functional.interpolate(_pose_image(), size=(32, 32), mode="area")
    with torch.no_grad():
        e_u = prior.predict_noise(x_t, t, prior.encode_text([""]), cond)
        e_c = prior.predict_noise(x_t, t, prior.encode_text([prompt]), cond)
    diff = e_u + 4.0 * (e_c - e_u) - noise
    assert torch.allclose(rgb.grad, 2 * diff / diff.norm(), atol=1e-5)


def test_unknown_words_map_to_unk_and_slots_bind_colours():
    enc = TinyTextEncoder()
    ids = enc.ids(["front view of a zorblax wearing a red t-shirt"])[0].tolist()
    free = ids[len(SLOTS) :]
    assert enc.index[UNK] in free and free.count(enc.index[UNK]) == 1  # "zorblax" only
    assert enc.token_id("qwerty") == enc.index[UNK] and enc.token_id("red") != enc.index[UNK]
    assert enc.token_id("grey") == enc.token_id("gray")  # synonyms fold
    slots = dict(zip(SLOTS, ids[: len(SLOTS)]))
    assert slots["top_color"] == enc.index["red"] and slots["top_kind"] == enc.index["t-shirt"]
    assert slots["bottom_color"] == enc.index[NONE] and slots["subject"] == enc.index[NONE]
    s = parse_slots("back view of a man with short brown hair wearing a blue tank top and red shorts and black shoes")
    assert s == {"view": "back", "subject": "man", "hair_kind": "short", "hair_color": "brown", "top_kind": "tank",
                 "top_color": "blue", "bottom_kind": "shorts", "bottom_color": "red", "shoes_color": "black"}  # fmt: skip
    # colours bind to their own garment: swapping them changes exactly those two slots
    a = enc.ids(["a red t-shirt and blue trousers"])[0, : len(SLOTS)]
    b = enc.ids(["a blue t-shirt and red trousers"])[0, : len(SLOTS)]
    assert (a != b).sum() == 2


def _small_prior() -> TinyPrior:
    torch.manual_seed(0)
    return TinyPrior(TinyPriorConfig(unet=UNetConfig(resolution=16, channels=[16, 32], cross_attention_level=1)))


def test_save_load_round_trip_and_missing_weights(tmp_path):
    p = _small_prior().eval()
    save_tiny_prior(p, tmp_path)
    q = load_tiny_prior(tmp_path)
    x, t = torch.randn(1, 3, 16, 16), torch.tensor([500])
    with torch.no_grad():
        e = p.encode_text(["front view of a man"])
        a = p.predict_noise(x, t, e, _pose_image(16))
        b = q.predict_noise(x, t, q.encode_text(["front view of a man"]), _pose_image(16))
    assert torch.allclose(a, b, atol=2e-2)  # fp16 storage
    with pytest.raises(PriorError, match="train_tiny_prior"):
        load_tiny_prior(tmp_path / "nowhere")
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(PriorError, match="unreadable"):
        load_tiny_prior(tmp_path)


def test_training_step_reduces_the_loss_on_a_fixed_batch():
    from training import train_tiny_prior as mod
    p = _small_prior().train()
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 3, 16, 16) * 2 - 1
    cond = torch.rand(4, 3, 16, 16)
    prompts = ["front view of a man wearing a red t-shirt and blue trousers"] * 4
    opt = torch.optim.Adam(p.parameters(), lr=2e-3)

    def loss_at(seed: int) -> torch.Tensor:  # the same timesteps and noise every time
        return mod.train_step(p, x0, cond, prompts, torch.Generator().manual_seed(seed))

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
