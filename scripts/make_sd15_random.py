"""Make a real-size, random-weight Stable Diffusion 1.5 + ControlNet-openpose folder offline.

    python scripts/make_sd15_random.py OUT_DIR [--width 1.0] [--dtype float32|float16] [--seed 0]

The architecture configurations below are the published ones (the `config.json` / `scheduler_config.json` files of
stable-diffusion-v1-5/stable-diffusion-v1-5 and lllyasviel/sd-controlnet-openpose, written out here by hand); the
weights are random, so the images mean nothing, but every shape, dtype, memory figure and time is real. The folder has
the diffusers layout `dreamavatar generate --prior OUT_DIR` takes (unet/, vae/, text_encoder/, tokenizer/,
scheduler/, controlnet/, model_index.json). The tokenizer is a CLIP-format byte-level BPE of CLIP's size (49,408
tokens, 48,894 merges) built here from letter n-grams, so prompts tokenize into real-length id sequences padded to 77.

`--width W` (< 1) scales every channel count (UNet, ControlNet, VAE, text encoder) by W and keeps everything else:
depth, 512 px images, 64 x 64 latents, 77 tokens, the vocabulary, the schedule. Tests use it to run the real
configuration's code path in seconds.

Run time at full size on 2 CPU cores: about a minute; about 6 GB of memory while building and 5.7 GB on disk (fp32).
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from pathlib import Path
from typing import Any

# ---- the published configurations (SD 1.5 and its openpose ControlNet) --------------------------------------------
UNET: dict[str, Any] = dict(
    sample_size=64, in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, downsample_padding=1, mid_block_scale_factor=1,
    act_fn="silu", norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=768, attention_head_dim=8,
)  # fmt: skip
CONTROLNET: dict[str, Any] = dict(
    in_channels=4, flip_sin_to_cos=True, freq_shift=0,
    down_block_types=UNET["down_block_types"], block_out_channels=UNET["block_out_channels"], layers_per_block=2,
    downsample_padding=1, mid_block_scale_factor=1, act_fn="silu", norm_num_groups=32, norm_eps=1e-5,
    cross_attention_dim=768, attention_head_dim=8, conditioning_embedding_out_channels=(16, 32, 96, 256),
    controlnet_conditioning_channel_order="rgb",
)  # fmt: skip
VAE: dict[str, Any] = dict(
    in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2, act_fn="silu",
    block_out_channels=(128, 256, 512, 512), norm_num_groups=32, scaling_factor=0.18215,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
)  # fmt: skip
TEXT_ENCODER: dict[str, Any] = dict(  # CLIP ViT-L/14's text tower
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768,
    attention_dropout=0.0, dropout=0.0, initializer_range=0.02, initializer_factor=1.0,
    bos_token_id=0, eos_token_id=2, pad_token_id=1,
)  # fmt: skip
SCHEDULER: dict[str, Any] = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", trained_betas=None,
    set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1, clip_sample=False, prediction_type="epsilon",
)  # fmt: skip
TOKENIZER = dict(vocab_size=49408, merges=48894, model_max_length=77)

# Parameter counts of the published checkpoints (the fp32 files' sizes / 4); the script checks its models match.
PUBLISHED_PARAMS = {
    "unet": 859_520_964,
    "vae": 83_653_863,
    "text_encoder": 123_060_480,
    "controlnet": 361_279_120,
}
MODEL_INDEX = {
    "_class_name": "StableDiffusionControlNetPipeline",
    "controlnet": ["diffusers", "ControlNetModel"],
    "feature_extractor": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def _scale(channels: tuple[int, ...], width: float, multiple: int) -> tuple[int, ...]:
    return tuple(max(multiple, int(round(c * width / multiple)) * multiple) for c in channels)


def configs(width: float = 1.0) -> dict[str, dict[str, Any]]:
    """The four network configs, channel counts scaled by `width` (1.0: the published ones): multiples of 32 for the
    UNet and VAE (their group norms keep 32 groups), of 48 for CLIP (12 heads); the UNet's 8 attention heads scale
    with the width too (at least 1). Depth, kernel sizes, image and latent sizes and the vocabulary stay."""
    unet, cn, vae, te = dict(UNET), dict(CONTROLNET), dict(VAE), dict(TEXT_ENCODER)
    if width != 1.0:
        blocks = _scale(UNET["block_out_channels"], width, 32)  # 32 norm groups
        hidden = _scale((TEXT_ENCODER["hidden_size"],), width, 12 * 4)[0]  # 12 heads
        heads = max(1, round(UNET["attention_head_dim"] * width))  # (diffusers' SD 1.5 name for the head count)
        unet.update(block_out_channels=blocks, cross_attention_dim=hidden, attention_head_dim=heads)
        cn.update(block_out_channels=blocks, cross_attention_dim=hidden, attention_head_dim=heads)
        vae.update(block_out_channels=_scale(VAE["block_out_channels"], width, 32))
        te.update(hidden_size=hidden, intermediate_size=4 * hidden, projection_dim=hidden)
    return {"unet": unet, "controlnet": cn, "vae": vae, "text_encoder": te}


# ---- tokenizer ------------------------------------------------------------------------------------------------------
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table (its 256 base symbols)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, n = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


def clip_vocab_and_merges(n_merges: int = TOKENIZER["merges"]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-format vocabulary: 256 byte symbols, the same with the end-of-word mark `</w>`, then one token per
    merge, then <|startoftext|> and <|endoftext|> (49,408 entries for 48,894 merges, as CLIP's). Merges join letters
    into 2-, 3- and 4-letter pieces (frequent letters first), so an English word is a few tokens."""
    base = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for s in base + [b + "</w>" for b in base]:
        vocab[s] = len(vocab)
    merges: list[tuple[str, str]] = []

    def add(a: str, b: str) -> None:
        if len(merges) < n_merges and a + b not in vocab and a in vocab and b in vocab:
            merges.append((a, b))
            vocab[a + b] = len(vocab)

    letters = "etaoinshrdlcumwfgypbvkjxqz"
    for end in ("", "</w>"):  # pairs, then (pair, letter) triples, word-inside and word-final
        for x in letters:
            for y in letters:
                add(x, y + end)
    for end in ("", "</w>"):
        for x in letters:
            for y in letters:
                for z in letters:
                    add(x + y, z + end)
    for end in ("</w>", ""):  # (pair, pair) quadruples of the commonest letters until CLIP's merge count
        for xy in (x + y for x in letters for y in letters):
            for zw in (z + w for z in letters for w in letters):
                add(xy, zw + end)
    for d in string.digits:  # fill with digit pieces if letters ran out (they do not at CLIP's size)
        for e in string.digits:
            add(d, e + "</w>")
    if len(merges) != n_merges:
        raise RuntimeError(f"built {len(merges)} merges, wanted {n_merges}")
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return vocab, merges


def write_tokenizer(folder: Path) -> None:
    vocab, merges = clip_vocab_and_merges()
    if len(vocab) != TOKENIZER["vocab_size"]:
        raise RuntimeError(f"vocabulary of {len(vocab)} tokens, CLIP's has {TOKENIZER['vocab_size']}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>"}  # fmt: skip
    (folder / "special_tokens_map.json").write_text(json.dumps(special))
    config = dict(special, model_max_length=TOKENIZER["model_max_length"], do_lower_case=True,
                  tokenizer_class="CLIPTokenizer", errors="replace")  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def write_scheduler(folder: Path) -> None:
    """SD 1.5's scheduler_config.json as published (PNDM; DDPM/DDIM read the same file)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(SCHEDULER, _class_name="PNDMScheduler", _diffusers_version="0.30.0")
    (folder / "scheduler_config.json").write_text(json.dumps(config, indent=2))


# ---- networks -------------------------------------------------------------------------------------------------------
def count_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_model(name: str, cfg: dict[str, Any]):
    """One random float32 network of `configs()[name]`. A ControlNet's zero convolutions start at exactly 0 (its
    residuals would vanish); small random weights there make the conditioning path count, as in a trained one."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if name == "text_encoder":
        return CLIPTextModel(CLIPTextConfig(**cfg))
    model = {"unet": UNet2DConditionModel, "controlnet": ControlNetModel, "vae": AutoencoderKL}[name](**cfg)
    if name == "controlnet" and model.controlnet_mid_block.weight.device.type != "meta":
        with torch.no_grad():
            for m in (model.controlnet_down_blocks, model.controlnet_mid_block,
                      model.controlnet_cond_embedding.conv_out):  # fmt: skip
                for p in m.parameters():
                    p.normal_(0, 0.02)
    return model


def build_models(width: float = 1.0, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """All four networks at `width`; `device="meta"` gives shapes without memory (parameter and FLOP counts)."""
    import torch

    models = {}
    for i, (name, cfg) in enumerate(configs(width).items()):
        torch.manual_seed(seed + i)
        with torch.device(device):
            models[name] = build_model(name, cfg)
    return models


def make_folder(out: str | Path, width: float = 1.0, dtype: str = "float32", seed: int = 0, device: str = "cpu",
                log=lambda msg: print(msg, file=sys.stderr)) -> dict[str, int]:  # fmt: skip
    """Write the folder, one network at a time (peak memory: the UNet's); returns the parameter counts. `device`:
    where the random weights are drawn (a GPU is much faster at it)."""
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    counts = {}
    for i, (name, cfg) in enumerate(configs(width).items()):
        torch.manual_seed(seed + i)
        with torch.device(device):
            model = build_model(name, cfg)
        counts[name] = count_params(model)
        if torch_dtype != torch.float32:
            model.to(torch_dtype)
        model.save_pretrained(out / name)
        log(f"{name}: {counts[name]:,} parameters written to {out / name}")
        del model
    write_scheduler(out / "scheduler")
    write_tokenizer(out / "tokenizer")
    (out / "model_index.json").write_text(json.dumps(dict(MODEL_INDEX, _diffusers_version="0.30.0"), indent=2))
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="folder to write (created)")
    p.add_argument("--width", type=float, default=1.0, help="channel scale (1.0: the published sizes)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"), help="weights on disk")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not 0 < args.width <= 1:
        p.error("--width must be in (0, 1]")
    counts = make_folder(args.out, args.width, args.dtype, args.seed)
    ok = True
    for name, n in counts.items():
        want = PUBLISHED_PARAMS[name]
        same = n == want
        ok &= same or args.width != 1.0
        note = "matches the published count" if same else f"published {want:,}"
        print(f"{name:13s} {n:>13,} parameters ({note})")
    print(args.out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
