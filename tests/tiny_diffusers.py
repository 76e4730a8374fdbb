"""Tiny random-weight Stable Diffusion + ControlNet folders for tests (built in about a second, no download).

The folder has the layout of a diffusers `StableDiffusionControlNetPipeline` save (unet/, vae/, text_encoder/,
tokenizer/, scheduler/, controlnet/), so tests load it back with `from_pretrained(local_dir)`: the path users take.
Sizes: 32 px images, 16 x 16 x 4 latents (the VAE downsamples 2x), a ControlNet whose condition image is 32 px
(2x the latent, as SD's is 8x), 32-wide text embeddings of 16 tokens.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

RESOLUTION = 32
MAX_TOKENS = 16


def _write_clip_tokenizer(folder: Path) -> None:
    """A CLIP-format byte-level BPE vocabulary: lowercase letters, digits and a few merges (enough for prompts)."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(string.ascii_lowercase + string.digits + ",.'-")
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    merges = [("o", "f</w>"), ("v", "i"), ("vi", "e"), ("t", "h"), ("th", "e</w>"), ("a", "n</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    config = {
        "model_max_length": MAX_TOKENS,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "CLIPTokenizer",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def build_tiny_sd(folder: str | Path, seed: int = 0, with_controlnet: bool = True) -> Path:
    """Write a tiny random SD-1.5-shaped model (+ openpose-style ControlNet) to `folder`; returns the folder."""
    from diffusers import AutoencoderKL, ControlNetModel, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=RESOLUTION // 2,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=RESOLUTION,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=128,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    scheduler = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False)
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    text_encoder.save_pretrained(folder / "text_encoder")
    scheduler.save_pretrained(folder / "scheduler")
    _write_clip_tokenizer(folder / "tokenizer")
    if with_controlnet:
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
        # a fresh ControlNet's zero convolutions output exactly 0; give them small weights so tests see its effect
        zero_convs = [controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                      controlnet.controlnet_cond_embedding.conv_out]  # fmt: skip
        with torch.no_grad():
            for p in (p for m in zero_convs for p in m.parameters()):
                p.normal_(0, 0.05)
        controlnet.save_pretrained(folder / "controlnet")
    return folder
