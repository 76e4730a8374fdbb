"""Stable Diffusion 1.5 + ControlNet-openpose at its real configuration, offline (scripts/make_sd15_random.py).

Full size: parameter counts of the published configurations (meta device, no memory) and FLOPs against a
hand-written count. Reduced width (every channel count x 0.05, everything else real: 512 px VAE input, 64 x 64
latents, 77 tokens of a CLIP-size vocabulary, the ControlNet's 8x condition image): the prior's shapes, the text
cache, the SDS gradient, and the whole command-line path (`generate` with `device=cpu`, resume, `animate`, `export`,
`sample` on its run). The real-size run of the same path is `benchmarks/bench_sd15.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_sd15_random as sd15  # noqa: E402

WIDTH = 0.05
PROMPT = "a man wearing a red t-shirt and blue trousers"


@pytest.fixture(autouse=True)
def _private_text_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMAVATAR_TEXT_CACHE", str(tmp_path / "text_cache"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sd15_w005")
    sd15.make_folder(out, width=WIDTH, log=lambda msg: None)
    return out


@pytest.fixture(scope="module")
def prior(folder, tmp_path_factory):
    from priors.stable_diffusion import StableDiffusionConfig, StableDiffusionPrior

    cache = tmp_path_factory.mktemp("text_cache")
    return StableDiffusionPrior(StableDiffusionConfig(model=str(folder), device="cpu", text_cache_dir=str(cache)))


def test_published_configurations_have_the_published_parameter_counts():
    models = sd15.build_models(1.0, device="meta")
    counts = {name: sd15.count_params(m) for name, m in models.items()}
    assert counts == sd15.PUBLISHED_PARAMS  # UNet 859.5M, ControlNet 361.3M, VAE 83.7M, CLIP text 123.1M


def test_tokenizer_is_clip_sized_and_loads_as_clip(folder):
    from transformers import CLIPTokenizer

    vocab = json.loads((folder / "tokenizer/vocab.json").read_text())
    merges = (folder / "tokenizer/merges.txt").read_text().strip().splitlines()[1:]
    assert len(vocab) == 49408 and len(merges) == 48894 and len(set(vocab.values())) == 49408
    tok = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    ids = tok([PROMPT], padding="max_length", max_length=77, truncation=True).input_ids[0]
    assert len(ids) == 77 and ids[0] == vocab["<|startoftext|>"]
    n = ids.index(vocab["<|endoftext|>"])
    words = PROMPT.replace("-", " - ").split()
    assert len(words) <= n - 1 <= 3 * len(words)  # a few pieces a word, not one a letter
    assert tok.decode(ids[1:n]).replace(" - ", "-").strip() == PROMPT
    assert tok.convert_ids_to_tokens(tok("red").input_ids)[1] == "red</w>"


def _vae_encoder_flops(cfg: dict, res: int) -> float:
    """Matmul/conv FLOPs (2 per multiply-add) of AutoencoderKL's encoder + quant conv, written out by hand."""
    conv = lambda n, cin, cout, k: 2 * n * cin * cout * k * k  # noqa: E731  n output pixels
    ch, layers, latent = cfg["block_out_channels"], cfg["layers_per_block"], cfg["latent_channels"]
    total, r, cin = conv(res * res, 3, ch[0], 3), res, ch[0]
    for i, c in enumerate(ch):
        for j in range(layers):
            a = cin if j == 0 else c
            total += conv(r * r, a, c, 3) + conv(r * r, c, c, 3) + (conv(r * r, a, c, 1) if a != c else 0)
        cin = c
        if i < len(ch) - 1:
            r //= 2
            total += conv(r * r, c, c, 3)  # stride-2 downsample
    n, c = r * r, ch[-1]
    resnet = 2 * conv(n, c, c, 3)
    attention = 4 * 2 * n * c * c + 2 * 2 * n * n * c  # q, k, v, out projections; scores and weighted sum
    total += 2 * resnet + attention + conv(n, c, 2 * latent, 3) + conv(n, 2 * latent, 2 * latent, 1)
    return total


def test_flop_count_matches_a_hand_count_and_real_tensors():
    from priors.cost import _count, network_flops

    full = network_flops(sd15.configs(1.0))
    assert full["vae_forward"] == _vae_encoder_flops(sd15.VAE, 512)  # 1.117 TFLOP at 512 px
    assert 0.75e12 < full["unet"] < 0.85e12 and 0.25e12 < full["controlnet"] < 0.32e12

    # the meta-device count equals the count of a real forward pass (reduced width, 128 px; torch's math attention:
    # the counter does not see inside CPU flash attention)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    small = sd15.configs(WIDTH)
    meta = network_flops(small, resolution=128)
    vae = sd15.build_model("vae", small["vae"]).eval()
    with sdpa_kernel(SDPBackend.MATH), torch.no_grad():
        real = _count(lambda: vae.encode(torch.rand(1, 3, 128, 128)).latent_dist.mean)
    assert meta["vae_forward"] == real == _vae_encoder_flops(small["vae"], 128)


def test_real_sizes_latents_condition_and_text_cache(prior):
    from priors.sds import SDSConfig

    assert prior.resolution == 512 and prior.latent_shape() == (4, 64, 64)
    seen = {}
    hook = prior.controlnet.controlnet_cond_embedding.register_forward_hook(
        lambda m, i, o: seen.update(cond=tuple(i[0].shape), embedded=tuple(o.shape)))  # fmt: skip
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, 256, 256, generator=g, requires_grad=True)  # the sd15 presets render 256 px
    cond = torch.rand(1, 3, 256, 256, generator=g)
    out = prior.sds(rgb, cond, ["front view of " + PROMPT], SDSConfig(guidance_scale=50.0), g)
    hook.remove()
    out.loss.backward()
    assert seen["cond"] == (2, 3, 512, 512) and seen["embedded"][-2:] == (64, 64)  # 8x the latent, CFG batch 2
    assert rgb.grad is not None and (rgb.grad.abs() > 0).float().mean() > 0.99
    assert torch.isfinite(out.grad_norm).all()

    emb = prior.embed(["back view of " + PROMPT])
    assert emb.shape == (1, 77, sd15.configs(WIDTH)["text_encoder"]["hidden_size"])
    path = prior._disk_path("back view of " + PROMPT)
    assert path is not None and path.is_file()
    prior._embed_cache().clear()
    prior.text_encoder.requires_grad_(False)
    calls = []
    h = prior.text_encoder.register_forward_hook(lambda *a: calls.append(1))
    assert torch.equal(prior.embed(["back view of " + PROMPT]), emb) and not calls  # served from disk
    h.remove()


def test_vae_slicing_gives_the_same_gradient(prior, monkeypatch):
    """One image at a time, each pass recomputed in the backward (checkpointing): same latents, same gradient."""
    monkeypatch.setattr(prior, "resolution", 128)  # the property does not depend on the size; this is faster
    g = torch.Generator().manual_seed(1)
    rgb = torch.rand(2, 3, 128, 128, generator=g)
    grads = []
    for slicing in (False, True):
        prior.cfg.vae_slicing = slicing
        x = rgb.clone().requires_grad_(True)
        lat = prior.encode_images(x)
        (lat * torch.linspace(-1, 1, lat.numel()).view_as(lat)).sum().backward()
        grads.append((lat.detach(), x.grad))
    prior.cfg.vae_slicing = False
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-6)


# ---- the command line at the real configuration (reduced width) ------------------------------------------------------
def _cheap(tmp: Path) -> list[str]:
    """Small renders and a short stage 0: the prior still sees 512 px images, 64 x 64 latents and 77 tokens."""
    return [
        "init.iterations=10", "init.resolution=32", "init.views=8", "init.rays_per_step=512",
        f"init.cache_dir={tmp / 'init'}", "train.resolution=32", "train.batch=1", "train.checkpoint_every=1",
        "train.preview_every=0", "train.turntable_frames=2", "train.turntable_size=32", "train.animate_from=0.5",
    ]  # fmt: skip


@pytest.mark.slow
def test_command_line_sd15_path_on_cpu(folder, tmp_path, capsys):
    import imageio.v3 as iio
    from PIL import Image

    from dreamavatar.cli import main

    run = tmp_path / "run"
    gen = ["generate", PROMPT, "--prior", str(folder), "--out", str(run), "--no-progress", *_cheap(tmp_path)]
    assert main([*gen, "--steps", "2"]) == 2  # no GPU: refused unless asked for by name
    assert "device=cpu" in capsys.readouterr().err and not run.exists()

    assert main([*gen, "--steps", "1", "device=cpu"]) == 0  # step 0: canonical pose
    summary = json.loads((run / "run.json").read_text())
    assert summary["prior"] == str(folder) and summary["preset"] == "sd15" and summary["steps"] == 1
    assert main([*gen, "--steps", "2", "--resume"]) == 0  # step 1: a sampled pose (stage 2); device from the run
    state = torch.load(run / "checkpoints/last.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 2 and len(state["history"]) == 2
    assert all(h["grad_norm"] > 0 for h in state["history"])

    video = tmp_path / "walk.mp4"
    assert main(["animate", str(run), "--motion", "walk", "--frames", "0:2", "--size", "32", "--out", str(video)]) == 0
    assert iio.imread(video).shape[:3] == (2, 32, 32)
    glb = tmp_path / "avatar.glb"
    assert main(["export", str(run), "--format", "glb", "--resolution", "48", "--out", str(glb)]) == 0
    assert glb.read_bytes()[:4] == b"glTF"
    png = tmp_path / "sample.png"
    assert main(["sample", PROMPT, "--prior", str(run), "--steps", "1", "--size", "32", "--out", str(png)]) == 0
    assert Image.open(png).size == (64, 32)  # condition | sample


def _config(*args: str):
    import argparse

    from dreamavatar.commands.generate import make_config, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return make_config(parser.parse_args(["generate", PROMPT, *args]))


def test_presets_and_vram_keep_the_views_per_avatar():
    """--vram trades cameras per step for steps: the same UNet + ControlNet evaluations per avatar (2 per camera)."""
    from dreamavatar.errors import UserError

    evals = lambda c: 2 * c.train.steps * c.train.batch  # noqa: E731
    fast = _config("--prior", "/models/sd15")
    assert (fast.preset, fast.train.steps, fast.train.batch, evals(fast)) == ("sd15", 4000, 4, 32000)
    assert fast.sds.t_max_schedule == [0, 0.98, 0.5, 1.0]
    for gb, batch in ((24, 4), (12, 2), (8, 1)):
        c = _config("--prior", "/models/sd15", "--vram", str(gb))
        assert c.train.batch == batch and evals(c) == 32000
        assert c.prior.guidance.get("vae_slicing", False) == (gb < 24) and c.prior.guidance.get("cpu_offload",
                                                                                                 False) == (gb == 8)
    walz = _config("--prior", "/models/sd15", "--preset", "sd15-dreamwaltz", "--vram", "8")
    assert (walz.train.steps, walz.train.batch, walz.sds.t_max_schedule, evals(walz)) == (80000, 1, None, 160000)
    assert walz.prior.guidance["model"] == "/models/sd15" and walz.prior.guidance["cpu_offload"]
    assert _config("--prior", "/models/sd15", "--vram", "12", "--steps", "100").train.steps == 100
    with pytest.raises(UserError, match="--vram"):
        _config("--vram", "8")  # the tiny preset has no GPU to size
    with pytest.raises(UserError, match="--preset"):
        _config("--preset", "sd15")  # no Stable Diffusion weights given
