"""The prior section of the run config (`prior.guidance_type` + `prior.guidance.*`), the `--prior` spelling, run
directories written before the section existed, and `priors.load_prior`."""

from __future__ import annotations

import argparse

import pytest
import torch

from dreamavatar.errors import UserError
from dreamavatar.run_config import GenerateConfig, build_config, load_generate_config
from priors import PriorConfig, TinyOptions, load_prior
from priors.errors import PriorError
from priors.stable_diffusion import StableDiffusionConfig


def test_stable_diffusion_options_are_reachable_as_overrides():
    keys = ["dtype=float16", "cpu_offload=true", "controlnet_scale=0.5", "model=/models/sd15"]
    cfg = build_config("sd15", [f"prior.guidance.{k}" for k in keys])
    opts = cfg.prior.options()
    assert isinstance(opts, StableDiffusionConfig)
    assert (opts.dtype, opts.cpu_offload, opts.controlnet_scale) == ("float16", True, 0.5)
    assert (opts.model, opts.controlnet) == ("/models/sd15", "auto")  # the folder's controlnet/ unless one is named
    assert cfg.prior.name == "/models/sd15"
    tiny = build_config("tiny", ["prior.guidance.weights=/somewhere/else"])
    assert tiny.prior.options() == TinyOptions(weights="/somewhere/else") and tiny.prior.is_tiny


def test_unknown_kind_or_option_names_the_known_ones():
    with pytest.raises(PriorError, match=r"dtpye.*use model, controlnet, .*dtype"):
        PriorConfig("stable-diffusion", {"dtpye": "float16"}).options()
    with pytest.raises(PriorError, match=r"unknown option\(s\) dtype for the tiny prior: use weights"):
        PriorConfig("tiny", {"dtype": "float16"}).options()
    with pytest.raises(PriorError, match="use one of tiny, stable-diffusion"):
        load_prior(PriorConfig("dalle"))
    with pytest.raises(UserError, match="guidanc"):  # a misspelt section key fails when the config is built
        build_config("tiny", ["prior.guidanc.weights=x"])


def test_the_command_line_prior_spelling():
    from dreamavatar.commands.generate import make_config

    def args(prior):
        return argparse.Namespace(prompt="a man", prior=prior, body=None, smpl_dir=None, seed=None, steps=None,
                                  static=False, overrides=[], config=[], preset=None, vram=None)  # fmt: skip

    assert make_config(args(None)).prior == PriorConfig("tiny", {})
    assert make_config(args("tiny")).prior == PriorConfig("tiny", {})
    sd = make_config(args("~/models/sd 1.5"))
    assert sd.preset == "sd15" and sd.prior.options().model == "~/models/sd 1.5"
    assert PriorConfig.from_spec("tiny") == PriorConfig("tiny", {})
    assert PriorConfig.from_spec("org/model", controlnet="cn").guidance == {"model": "org/model", "controlnet": "cn"}


@pytest.mark.parametrize(
    "old, guidance_type, guidance",
    [
        ("prior: tiny\ncontrolnet: null\n", "tiny", {}),
        ("prior: /m/sd15\ncontrolnet: null\n", "stable-diffusion", {"model": "/m/sd15"}),
        ("prior: org/sd\ncontrolnet: org/cn\n", "stable-diffusion", {"model": "org/sd", "controlnet": "org/cn"}),
    ],
)
def test_config_files_of_older_runs_still_load(tmp_path, old, guidance_type, guidance):
    path = tmp_path / "config.yaml"
    path.write_text(f"prompt: a man\n{old}train:\n  steps: 7\n")
    cfg = load_generate_config([path])
    assert isinstance(cfg, GenerateConfig) and (cfg.prompt, cfg.train.steps) == ("a man", 7)
    assert cfg.prior == PriorConfig(guidance_type, guidance)


def test_load_prior_reads_another_tiny_weights_folder(tmp_path):
    from priors.tiny import TinyPrior, TinyPriorConfig, save_tiny_prior
    from priors.tiny.model import UNetConfig

    torch.manual_seed(0)
    small = TinyPrior(TinyPriorConfig(unet=UNetConfig(resolution=16, channels=[16, 32], cross_attention_level=1)))
    save_tiny_prior(small, tmp_path)
    loaded = load_prior(PriorConfig("tiny", {"weights": str(tmp_path)}))
    assert loaded.resolution == 16 and load_prior("tiny").resolution == 32
    assert torch.equal(loaded.background, torch.tensor(TinyPriorConfig().background))
    with pytest.raises(PriorError, match="no tiny prior weights"):
        load_prior(PriorConfig("tiny", {"weights": str(tmp_path / "nowhere")}))
