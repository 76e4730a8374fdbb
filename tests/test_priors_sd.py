"""The Stable Diffusion + ControlNet prior on tiny random diffusers models saved to a folder and loaded back offline
(the path users take with `--prior PATH`): loading, errors, the SDS gradient against a hand-built reference that
calls the VAE, ControlNet and UNet directly, the embedding cache and sampling."""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F

from priors.errors import PriorError
from priors.sds import SDSConfig
from priors import PriorConfig, load_prior
from priors.stable_diffusion import StableDiffusionConfig, StableDiffusionPrior
from tiny_diffusers import MAX_TOKENS, RESOLUTION, build_tiny_sd


@pytest.fixture(autouse=True)
def _private_text_cache(tmp_path, monkeypatch):
    """Never write to the user's ~/.cache: every test gets its own default text-embedding cache."""
    monkeypatch.setenv("DREAMAVATAR_TEXT_CACHE", str(tmp_path / "text_cache"))


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    return build_tiny_sd(tmp_path_factory.mktemp("tiny_sd"))


@pytest.fixture(scope="module")
def prior(sd_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("text_cache")
    cfg = StableDiffusionConfig(model=str(sd_dir), resolution=RESOLUTION, text_cache_dir=str(cache))
    return StableDiffusionPrior(cfg)


def test_loads_offline_from_a_pipeline_folder(prior):
    assert prior.device.type == "cpu" and prior.dtype == torch.float32  # fp32 on a CPU
    assert prior.latent_shape() == (4, RESOLUTION // 2, RESOLUTION // 2)
    emb = prior.embed(["front view of a man", "back view of a man"])
    assert emb.shape == (2, MAX_TOKENS, 32)
    assert not torch.allclose(emb[0], emb[1])
    assert prior.alphas_cumprod().shape == (1000,)
    torch.testing.assert_close(prior.alphas_cumprod()[0], torch.tensor(1 - 0.00085))


def test_sds_gradient_equals_the_hand_built_chain(prior):
    """rgb (rendered at 2x the prior's size) -> area resize -> VAE mean x scale -> x_t -> ControlNet + UNet (CFG)
    -> unit-normalised (eps_hat - eps) -> back through the VAE encoder to the rendered pixels."""
    B, s = 2, 7.5
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(B, 3, 2 * RESOLUTION, 2 * RESOLUTION, generator=g).requires_grad_(True)
    cond = torch.rand(B, 3, RESOLUTION, RESOLUTION, generator=g)
    t = torch.tensor([150, 800])
    noise = torch.randn(B, 4, RESOLUTION // 2, RESOLUTION // 2, generator=g)
    prompts = ["front view of a man", "side view of a man"]

    out = prior.sds(rgb, cond, prompts, SDSConfig(guidance_scale=s), t=t, noise=noise)
    out.loss.backward()
    assert rgb.grad is not None and rgb.grad.abs().sum() > 0

    # the reference, module by module
    rgb_ref = rgb.detach().clone().requires_grad_(True)
    x = F.interpolate(rgb_ref, size=(RESOLUTION, RESOLUTION), mode="area") * 2 - 1
    x0 = prior.vae.encode(x).latent_dist.mean * prior.vae.config.scaling_factor
    a = prior.alphas_cumprod()[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0.detach() + (1 - a).sqrt() * noise
    tok = prior.tokenizer
    with torch.no_grad():

        def encode(texts):
            ids = tok(texts, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt")
            return prior.text_encoder(ids.input_ids)[0]

        def eps(emb):
            down, mid = prior.controlnet(x_t, t, encoder_hidden_states=emb, controlnet_cond=cond, return_dict=False)
            return prior.unet(
                x_t, t, encoder_hidden_states=emb, down_block_additional_residuals=down,
                mid_block_additional_residual=mid,
            ).sample  # fmt: skip

        e_c, e_u = eps(encode(prompts)), eps(encode(["", ""]))
    diff = e_u + s * (e_c - e_u) - noise
    norm = diff.flatten(1).norm(dim=1)
    (want,) = torch.autograd.grad(x0, rgb_ref, grad_outputs=diff / norm.view(-1, 1, 1, 1) / B)

    torch.testing.assert_close(out.grad_norm, norm, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(rgb.grad, want, rtol=1e-4, atol=1e-7)
    # the ControlNet matters: another skeleton image gives another gradient
    rgb2 = rgb.detach().clone().requires_grad_(True)
    prior.sds(rgb2, 1 - cond, prompts, SDSConfig(guidance_scale=s), t=t, noise=noise).loss.backward()
    assert not torch.allclose(rgb2.grad, rgb.grad)


def test_embeddings_cached_on_disk_across_instances(sd_dir, tmp_path):
    cfg = StableDiffusionConfig(model=str(sd_dir), resolution=RESOLUTION, text_cache_dir=str(tmp_path))
    first = StableDiffusionPrior(cfg)
    calls = []
    original = first.encode_text
    first.encode_text = lambda p: calls.append(list(p)) or original(p)
    e1 = first.embed(["a chef"])
    first.embed(["a chef"])
    assert calls == [["a chef"]] and len(list(tmp_path.rglob("*.pt"))) == 1

    second = StableDiffusionPrior(cfg)
    assert second.model_id == first.model_id  # same weights, same key
    second.encode_text = lambda p: pytest.fail("the disk cache should have served this prompt")
    torch.testing.assert_close(second.embed(["a chef"]), e1)


def test_sample_shape_range_and_seed(prior):
    cond = torch.zeros(1, 3, 64, 64)
    cond[:, 0, 20:44, 30:34] = 1  # a red limb
    a = prior.sample("a man", cond, steps=2, guidance_scale=3.0, generator=torch.Generator().manual_seed(1))
    b = prior.sample("a man", cond, steps=2, guidance_scale=3.0, generator=torch.Generator().manual_seed(1))
    c = prior.sample("a man", cond, steps=2, guidance_scale=3.0, generator=torch.Generator().manual_seed(2))
    assert a.shape == (1, 3, RESOLUTION, RESOLUTION) and torch.isfinite(a).all()
    assert 0 <= a.min() and a.max() <= 1 and a.std() > 0
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_separate_controlnet_path(sd_dir, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(sd_dir, base, ignore=shutil.ignore_patterns("controlnet"))
    with pytest.raises(PriorError, match="no controlnet/ subfolder"):
        StableDiffusionPrior(StableDiffusionConfig(model=str(base), resolution=RESOLUTION))
    p = StableDiffusionPrior(
        StableDiffusionConfig(model=str(base), controlnet=str(sd_dir / "controlnet"), resolution=RESOLUTION)
    )
    assert list(p.controlnet.config.conditioning_embedding_out_channels) == [16, 32]
    assert p.embed(["a man"]).shape == (1, MAX_TOKENS, 32)


def test_missing_or_wrong_folders_give_one_clear_message(sd_dir, tmp_path):
    with pytest.raises(PriorError, match=r"does not exist.*hf download .*--prior"):
        load_prior(str(tmp_path / "nowhere"))
    broken = tmp_path / "broken"
    shutil.copytree(sd_dir, broken, ignore=shutil.ignore_patterns("unet"))
    with pytest.raises(PriorError, match=r"missing unet/.*lllyasviel/sd-controlnet-openpose"):
        load_prior(str(broken))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PriorError, match="not a diffusers Stable Diffusion folder"):
        load_prior(str(tmp_path / "empty"))
    corrupt = tmp_path / "corrupt"
    shutil.copytree(sd_dir, corrupt)
    (corrupt / "unet" / "config.json").write_text("{ not json")
    with pytest.raises(PriorError, match=r"cannot load the SD prior .*--prior") as err:
        load_prior(str(corrupt))
    assert "\n" not in str(err.value)


def test_uncached_hub_id_offline_names_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PriorError, match=r"cannot load the SD prior 'nobody-here/no-such-model' offline.*--prior"):
        load_prior(PriorConfig.from_spec("nobody-here/no-such-model", local_files_only=True))


# ---- `dreamavatar sample` -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def motion_file(tmp_path_factory):
    from dreamavatar.body.skeleton import a_pose
    from dreamavatar.motion import Motion

    poses = a_pose(3).clone()
    poses[1, 17, 2] = -1.2  # frame 1 raises the right arm
    return Motion(poses, torch.zeros(3, 3), fps=30, name="three").save(tmp_path_factory.mktemp("m") / "three.npz")


def test_sample_command_writes_condition_and_sample_side_by_side(sd_dir, motion_file, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from dreamavatar.body import load_body
    from dreamavatar.cli import main
    from dreamavatar.condition import body_extent, condition_images, view_cameras

    out = tmp_path / "s.png"
    args = ["sample", "a man", "--prior", str(sd_dir), "--motion", str(motion_file), "--frame", "1", "--view", "side",
            "--steps", "2", "--size", "64", "--seed", "3", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (64, 128, 3)
    # the left panel is the skeleton of frame 1 from the side, exactly as the condition renderer draws it, on the
    # prompt's body (a man)
    from dreamavatar.body import body_options
    from prompts.parse import parse_prompt

    body = load_body("anny", **body_options("anny", parse_prompt("a man")))
    h, c = body_extent(body)
    from dreamavatar.motion import load_motion

    m = load_motion(str(motion_file))
    ref = condition_images(body, m.poses[1:2], view_cameras("side", 64, h, c, m.transl[1:2]), m.transl[1:2])
    ref = (ref[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.abs(img[:, :64].astype(int) - ref.astype(int)).max() <= 1
    assert (ref.sum(-1) > 0).mean() > 0.01  # and it is not an empty canvas
    # the right panel is the sample: 32 px enlarged 2x (nearest), so 2 x 2 blocks of equal pixels
    right = img[:, 64:].astype(int)
    assert right.std() > 0
    assert (right[0::2, 0::2] == right[1::2, 1::2]).all()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["", "--size", "64"], "prompt is empty"),
        (["a man", "--size", "100"], "multiple of 16"),
        (["a man", "--frame", "7"], "outside the motion's 3 frames"),
        (["a man", "--prior", "/nonexistent/sd15"], "hf download"),
    ],
)
def test_sample_command_user_errors_exit_2(extra, words, motion_file, tmp_path, capsys):
    from dreamavatar.cli import main

    args = ["sample", *extra, "--motion", str(motion_file), "--out", str(tmp_path / "x.png")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not (tmp_path / "x.png").exists()


def test_half_precision_path_keeps_float32_gradients(sd_dir, prior):
    """The CUDA fp16 path, exercised on a CPU with bfloat16: weights in half precision, the SDS gradient still
    reaches float32 renders and agrees in direction with the float32 prior's."""
    half = StableDiffusionPrior(StableDiffusionConfig(model=str(sd_dir), dtype="bfloat16"))
    assert half.resolution == RESOLUTION  # inferred: UNet sample size x VAE downsampling
    assert half.unet.dtype == torch.bfloat16 and half.vae.dtype == torch.bfloat16
    g = torch.Generator().manual_seed(5)
    rgb = torch.rand(1, 3, RESOLUTION, RESOLUTION, generator=g)
    cond, noise = torch.rand(1, 3, RESOLUTION, RESOLUTION, generator=g), torch.randn(1, 4, 16, 16, generator=g)
    grads = []
    for p in (prior, half):
        x = rgb.clone().requires_grad_(True)
        p.sds(x, cond, "a man", SDSConfig(guidance_scale=5), t=torch.tensor([300]), noise=noise).loss.backward()
        assert x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()
        grads.append(x.grad.flatten())
    assert F.cosine_similarity(grads[0], grads[1], dim=0) > 0.9


def test_v_prediction_models_are_converted_to_epsilon(sd_dir, tmp_path):
    import json

    v_dir = tmp_path / "v"
    shutil.copytree(sd_dir, v_dir)
    sched = json.loads((v_dir / "scheduler" / "scheduler_config.json").read_text())
    (v_dir / "scheduler" / "scheduler_config.json").write_text(json.dumps({**sched, "prediction_type": "v_prediction"}))
    p = StableDiffusionPrior(StableDiffusionConfig(model=str(v_dir)))
    g = torch.Generator().manual_seed(0)
    x_t, cond = torch.randn(2, 4, 16, 16, generator=g), torch.rand(2, 3, RESOLUTION, RESOLUTION, generator=g)
    t, emb = torch.tensor([10, 900]), p.embed(["a", "b"])
    with torch.no_grad():
        down, mid = p.controlnet(x_t, t, encoder_hidden_states=emb, controlnet_cond=cond, return_dict=False)
        v = p.unet(x_t, t, encoder_hidden_states=emb, down_block_additional_residuals=down,
                   mid_block_additional_residual=mid).sample  # fmt: skip
        eps = p.predict_noise(x_t, t, emb, cond)
    a = p.alphas_cumprod()[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(eps, a.sqrt() * v + (1 - a).sqrt() * x_t, rtol=1e-5, atol=1e-5)
