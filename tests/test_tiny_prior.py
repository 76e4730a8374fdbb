"""The embedded tiny prior: shipped weights load offline and honour the prior contract; text slots and UNK; the
training step learns."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from priors.errors import PriorError
from priors.tiny import TinyPrior, TinyPriorConfig, load_tiny_prior, sample_batch, save_tiny_prior
from priors.tiny.model import UNetConfig
from priors.tiny.prior import CONFIG_FILE, WEIGHTS_DIR, WEIGHTS_FILE
from priors.tiny.text import NONE, SLOTS, UNK, TinyTextEncoder, parse_slots

ROOT = Path(__file__).resolve().parents[1]


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


def test_sample_gives_an_image(prior):
    g = torch.Generator().manual_seed(0)
    img = prior.sample("front view of a woman wearing a green t-shirt and black trousers", _pose_image(), steps=3,
                       generator=g)  # fmt: skip
    assert img.shape == (1, 3, 32, 32) and img.min() >= 0 and img.max() <= 1
    batch = sample_batch(prior, ["a", "side view of a man"], _pose_image().expand(2, -1, -1, -1), steps=3, generator=g)
    assert batch.shape == (2, 3, 32, 32) and 0 <= batch.min() and batch.max() <= 1


def test_sds_gradient_reaches_the_render(prior):
    rgb = torch.rand(1, 3, 64, 64, requires_grad=True)
    out = prior.sds(rgb, _pose_image(), "front view of a man wearing a red t-shirt and blue trousers",
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    out.loss.backward()
    assert rgb.grad is not None and torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0


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
    mod = importlib.import_module("training.train_tiny_prior")
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
