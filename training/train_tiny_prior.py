#!/usr/bin/env python
"""Train the embedded tiny prior (reproducible, resumable) and write the shipped weights.

    .venv/bin/python -m training.train_tiny_prior [key=value ...]      e.g. steps=7000 max_minutes=85

1. Makes the synthetic data set (training.synth) in `data_dir` as npz chunks, unless they exist.
2. Trains the UNet + text encoder with the epsilon objective on a DDPM schedule (1000 steps), with caption dropout
   for classifier-free guidance and a per-step random choice of which optional caption phrases to keep.
3. Checkpoints (model, EMA, optimiser, step, RNG states) atomically every `ckpt_every` steps and when `max_minutes`
   is reached; running the same command again resumes from `run_dir/checkpoint.pt`. Everything random comes from
   generators seeded by `seed` and the step, so a resumed run continues the same sequence.
4. Writes the EMA weights in fp16 to `weights_dir` (the package's `priors/tiny/weights` by default) and a preview
   grid of samples on held-out colour pairs to `run_dir/preview_<step>.png`.
Loss goes to stderr and `run_dir/log.jsonl`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# OpenMP threads that spin while waiting are 10-50x slower when the cores are shared (measured: a 53 ms forward took
# 0.5-4.8 s with 2 spinning threads on a busy 2-core machine): wait passively. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dreamavatar.config import load_config  # noqa: E402
from dreamavatar.io import load_tensors  # noqa: E402
from training.synth.captions import caption, sample_outfit, view_word  # noqa: E402
from training.synth.dataset import SynthConfig, SynthGenerator, load_chunks, outfit_of, write_chunks  # noqa: E402
from priors.tiny.prior import TinyPrior, TinyPriorConfig, sample_batch, save_tiny_prior  # noqa: E402

log = logging.getLogger("train_tiny_prior")


@dataclass
class TrainConfig:
    seed: int = 0
    data_dir: str = "outputs/tiny_prior/data"
    run_dir: str = "outputs/tiny_prior/run"
    weights_dir: str = str(ROOT / "priors" / "tiny" / "weights")
    num_chunks: int = 40
    chunk_size: int = 512
    steps: int = 7000  # total optimiser steps (about 1.3 s each at batch 32 on 2 free cores)
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    p_uncond: float = 0.1  # caption dropout (empty prompt) for classifier-free guidance
    p_optional: float = 0.7  # each optional caption phrase (hair, skin, shoes) kept with this probability
    ckpt_every: int = 250
    log_every: int = 25
    preview_every: int = 2000
    max_minutes: float = 85.0  # stop (with a checkpoint) after this long: background jobs end with the session
    threads: int = 2
    synth: SynthConfig = field(default_factory=SynthConfig)
    prior: TinyPriorConfig = field(default_factory=TinyPriorConfig)


def _atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _lr(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine down to 10 %."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


class Batches:
    """Random training batches from the in-memory data set; batch `step` is a pure function of (seed, step)."""

    def __init__(self, data: dict[str, np.ndarray], cfg: TrainConfig):
        self.rgb = torch.from_numpy(data["rgb"]).permute(0, 3, 1, 2)  # N x 3 x R x R uint8
        self.cond = torch.from_numpy(data["cond"]).permute(0, 3, 1, 2)
        self.outfits = [outfit_of(s) for s in data["outfits"]]
        self.views = [str(v) for v in data["views"]]
        self.cfg = cfg

    def __len__(self) -> int:
        return self.rgb.shape[0]

    def get(self, step: int) -> tuple[torch.Tensor, torch.Tensor, list[str], torch.Generator]:
        g = torch.Generator().manual_seed(self.cfg.seed * 7919 + step)
        idx = torch.randint(len(self), (self.cfg.batch_size,), generator=g)
        prompts = []
        for i in idx.tolist():
            if float(torch.rand(1, generator=g)) < self.cfg.p_uncond:
                prompts.append("")
            else:
                prompts.append(caption(self.outfits[i], self.views[i], g, self.cfg.p_optional))
        x0 = self.rgb[idx].float() / 127.5 - 1
        cond = self.cond[idx].float() / 255
        return x0, cond, prompts, g


def train_step(prior: TinyPrior, x0, cond, prompts, g: torch.Generator) -> torch.Tensor:
    """Epsilon-prediction MSE at uniform timesteps."""
    B = x0.shape[0]
    t = torch.randint(prior.num_train_timesteps, (B,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    ab = prior.alphas_cumprod()[t].view(B, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    eps = prior.predict_noise(x_t, t, prior.encode_text(prompts), cond)
    return torch.nn.functional.mse_loss(eps, noise)


def preview(prior: TinyPrior, cfg: TrainConfig, gen: SynthGenerator | None, path: Path, n: int = 8) -> None:
    """Samples on held-out colour pairs, above the matching synthetic images, above their condition images."""
    from PIL import Image

    from training.synth.dataset import to_uint8
    from renderers.cameras import CameraRanges, sample_cameras
    from training.synth.dataset import sample_poses

    g = torch.Generator().manual_seed(12345)
    outfits = [sample_outfit(g, held_out=True) for _ in range(n)]
    poses = sample_poses(n, g)
    s = cfg.synth
    cams, az = sample_cameras(n, s.render_size, CameraRanges(s.radius, s.polar_deg, (0, 360), s.fov_deg), s.target, g)
    gen = gen or SynthGenerator(s)
    ref = gen.render(poses, outfits, cams)
    prompts = [caption(o, view_word(float(a))) for o, a in zip(outfits, az)]
    was = prior.training
    prior.eval()
    imgs = sample_batch(prior, prompts, ref["cond"], steps=30, guidance_scale=3.0, generator=g)
    prior.train(was)
    rows = [np.concatenate(list(to_uint8(x)), 1) for x in (imgs, ref["rgb"], ref["cond"])]
    grid = np.concatenate(rows, 0)
    Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(path)
    (path.with_suffix(".txt")).write_text("\n".join(prompts) + "\n")


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = load_config(TrainConfig, overrides=argv)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    start = time.time()

    cfg.synth.background = list(cfg.prior.background)
    gen = None
    if not all((Path(cfg.data_dir) / f"chunk_{i:04d}.npz").exists() for i in range(cfg.num_chunks)):
        gen = SynthGenerator(cfg.synth)
    paths = write_chunks(cfg.data_dir, cfg.synth, cfg.num_chunks, cfg.chunk_size, gen)
    data = Batches(load_chunks(paths), cfg)
    log.info("data: %d samples (%.0f s)", len(data), time.time() - start)

    prior = TinyPrior(cfg.prior).train()
    ema = copy.deepcopy(prior).eval().requires_grad_(False)
    opt = torch.optim.AdamW(prior.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    ckpt = run / "checkpoint.pt"
    if ckpt.exists():
        state = load_tensors(ckpt)  # weights_only: a checkpoint cannot run code
        prior.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        log.info("resumed from %s at step %d", ckpt, step)

    def save() -> None:
        _atomic_save({"model": prior.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                      "config": json.loads(json.dumps(cfg, default=lambda o: o.__dict__))}, ckpt)  # fmt: skip
        ema.cfg.trained_steps = step
        save_tiny_prior(ema, cfg.weights_dir)

    logf = (run / "log.jsonl").open("a")
    losses: list[float] = []
    t_steps = time.time()
    while step < cfg.steps:
        for grp in opt.param_groups:
            grp["lr"] = _lr(cfg, step)
        x0, cond, prompts, g = data.get(step)
        loss = train_step(prior, x0, cond, prompts, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), prior.parameters()):
                pe.lerp_(p, 1 - decay)
        losses.append(float(loss.detach()))
        if step % cfg.log_every == 0:
            sec = (time.time() - t_steps) / cfg.log_every
            t_steps = time.time()
            rec = {"step": step, "loss": float(np.mean(losses)), "lr": _lr(cfg, step), "sec_per_step": sec}
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            log.info("step %d loss %.4f (%.2f s/step)", step, rec["loss"], sec)
            losses.clear()
        out_of_time = (time.time() - start) / 60 > cfg.max_minutes
        if step % cfg.ckpt_every == 0 or step == cfg.steps or out_of_time:
            save()
        if step % cfg.preview_every == 0 or step == cfg.steps or out_of_time:
            preview(ema, cfg, gen, run / f"preview_{step:06d}.png")
        if out_of_time:
            log.info("stopping at step %d after %.0f min: run the same command again to resume", step, cfg.max_minutes)
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
