#!/usr/bin/env python
"""Train the embedded tiny prior (reproducible, resumable) and write the shipped weights.

    .venv/bin/python -m training.train_tiny_prior [key=value ...]      e.g. steps=8000 max_minutes=85

1. Makes the synthetic wardrobe data set (`training.synth`) in `data_dir` as npz chunks, unless they exist: dressed
   anny bodies of random shapes in random poses, each with the outfit-and-body spec it was drawn from.
2. Trains the UNet + spec encoder with the epsilon objective on a DDPM schedule (1000 steps). Conditioning is the
   sample's spec and view, with spec dropout for classifier-free guidance (the whole spec, p_uncond) and part dropout
   (the view, body, skin and hair tokens and each garment, so a prompt that names only some parts is in-distribution);
   garments are shuffled (the encoder treats them as a set).
3. Checkpoints (model, EMA, optimiser, step) atomically every `ckpt_every` steps and when `max_minutes` is reached;
   running the same command again resumes from `run_dir/checkpoint.pt` (loadable with weights_only=True). Every random
   draw comes from a generator seeded by (seed, step), so a resumed run continues the same sequence.
4. Writes the EMA weights in fp16 to `weights_dir` (the package's `priors/tiny/weights` by default) and a preview
   grid of samples on held-out specs to `run_dir/preview_<step>.png`.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

# OpenMP threads that spin while waiting are 10-50x slower when the cores are shared (measured: a 53 ms forward took
# 0.5-4.8 s with 2 spinning threads on a busy 2-core machine): wait passively. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dreamavatar.config import load_config  # noqa: E402
from dreamavatar.io import atomic_torch_save, load_tensors  # noqa: E402
from priors.tiny.prior import TinyPrior, TinyPriorConfig, sample_batch, save_tiny_prior  # noqa: E402
from priors.tiny.spec_encoder import KINDS, VIEWS, SpecFields, condition_key, spec_fields  # noqa: E402, F401
from prompts.spec import Spec  # noqa: E402
from training.synth.dataset import SynthConfig, SynthGenerator, load_chunks, write_chunks, write_worker  # noqa: E402

log = logging.getLogger("train_tiny_prior")


@dataclass
class TrainConfig:
    seed: int = 0
    data_dir: str = "outputs/tiny_prior/data"
    run_dir: str = "outputs/tiny_prior/run"
    weights_dir: str = str(ROOT / "priors" / "tiny" / "weights")
    num_chunks: int = 160
    chunk_size: int = 512
    data_workers: int = 2
    # total optimiser steps: 2.25 s a step on 2 idle cores (measured), so 8,000 steps = 300 min + the data step,
    # within 4 chunks of 85 min. The first run's steps before it resumed under 8,000 used a cosine over 12,000 (the
    # recipe was sized on a wrong 1.3 s a step; its log.jsonl has the rates): a rerun differs there slightly.
    steps: int = 8000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 300
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    p_uncond: float = 0.1  # the whole spec dropped (the null condition) for classifier-free guidance
    p_drop_view: float = 0.1  # each part token dropped (unknown) with these probabilities
    p_drop_body: float = 0.2
    p_drop_skin: float = 0.2
    p_drop_hair: float = 0.2
    p_drop_garment: float = 0.1  # each garment independently
    ckpt_every: int = 250
    log_every: int = 25
    preview_every: int = 2000
    max_minutes: float = 85.0  # stop (with a checkpoint) after this long: background jobs end with the session
    threads: int = 2
    synth: SynthConfig = field(default_factory=SynthConfig)
    prior: TinyPriorConfig = field(default_factory=TinyPriorConfig)


def _lr(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine down to 10 %."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


class Batches:
    """Random training batches from the in-memory data set; batch `step` is a pure function of (seed, step).

    The specs of all samples are turned into tensors once (`spec_fields`); dropout and garment shuffling are tensor
    operations on the rows of a batch."""

    def __init__(self, data: dict[str, np.ndarray], cfg: TrainConfig, max_garments: int):
        self.rgb = torch.from_numpy(data["rgb"]).permute(0, 3, 1, 2)  # N x 3 x R x R uint8
        self.cond = torch.from_numpy(data["cond"]).permute(0, 3, 1, 2)
        items = [(Spec.from_json(str(s)), str(v)) for s, v in zip(data["specs"], data["views"])]
        self.fields = spec_fields(items, max_garments)
        self.cfg = cfg

    def __len__(self) -> int:
        return self.rgb.shape[0]

    def get(self, step: int) -> tuple[torch.Tensor, torch.Tensor, SpecFields, torch.Generator]:
        cfg = self.cfg
        g = torch.Generator().manual_seed(cfg.seed * 7919 + step)
        idx = torch.randint(len(self), (cfg.batch_size,), generator=g)
        f = SpecFields(**{k: v[idx].clone() for k, v in vars(self.fields).items()})
        B, G = f.g_on.shape

        def keep(p: float, *shape: int) -> torch.Tensor:
            return torch.rand(*shape, generator=g) >= p

        uncond = ~keep(cfg.p_uncond, B)
        f.view[~keep(cfg.p_drop_view, B) | uncond] = len(VIEWS)
        f.body_on &= keep(cfg.p_drop_body, B) & ~uncond
        f.skin_on &= keep(cfg.p_drop_skin, B) & ~uncond
        f.hair_on &= keep(cfg.p_drop_hair, B) & ~uncond
        f.g_on &= keep(cfg.p_drop_garment, B, G) & ~uncond[:, None]
        order = torch.argsort(torch.rand(B, G, generator=g), dim=1)  # garments are a set
        for k in ("g_region", "g_kind", "g_material", "g_pattern", "g_color", "g_color2", "g_shape", "g_on"):
            v = getattr(f, k)
            ix = order.view(B, G, *([1] * (v.dim() - 2))).expand_as(v)
            setattr(f, k, torch.gather(v, 1, ix))
        x0 = self.rgb[idx].float() / 127.5 - 1
        cond = self.cond[idx].float() / 255
        return x0, cond, f, g


def train_step(prior: TinyPrior, x0: torch.Tensor, cond: torch.Tensor, fields: SpecFields, g: torch.Generator):
    """Epsilon-prediction MSE at uniform timesteps."""
    B = x0.shape[0]
    t = torch.randint(prior.num_train_timesteps, (B,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    ab = prior.alphas_cumprod()[t].view(B, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    eps = prior.predict_noise(x_t, t, prior.encode_fields(fields), cond)
    return torch.nn.functional.mse_loss(eps, noise)


def preview(prior: TinyPrior, cfg: TrainConfig, gen: SynthGenerator | None, path: Path, n: int = 8) -> None:
    """Samples on held-out specs, above the matching synthetic images, above their condition images."""
    from PIL import Image

    import dataclasses

    from dreamavatar.images import to_uint8

    gen = gen or SynthGenerator(dataclasses.replace(cfg.synth, split="heldout"))
    ref = gen.chunk(0, n)
    conds = torch.from_numpy(ref["cond"]).permute(0, 3, 1, 2).float() / 255
    keys = [condition_key(Spec.from_json(str(s)), str(v)) for s, v in zip(ref["specs"], ref["views"])]
    was = prior.training
    prior.eval()
    imgs = sample_batch(prior, keys, conds, steps=30, guidance_scale=3.0, generator=torch.Generator().manual_seed(0))
    prior.train(was)
    truth = torch.from_numpy(ref["rgb"]).permute(0, 3, 1, 2).float() / 255
    rows = [np.concatenate([to_uint8(x) for x in batch], 1) for batch in (imgs, truth, conds)]
    grid = np.concatenate(rows, 0)
    Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(path)


def make_data(cfg: TrainConfig) -> list[Path]:
    """The training chunks (made once, `data_workers` processes of one thread each; existing chunks are kept)."""
    paths = [Path(cfg.data_dir) / f"chunk_{i:04d}.npz" for i in range(cfg.num_chunks)]
    if all(p.exists() for p in paths):
        return paths
    t0 = time.time()
    if cfg.data_workers <= 1:
        write_chunks(cfg.data_dir, cfg.synth, cfg.num_chunks, cfg.chunk_size)
    else:
        from multiprocessing import get_context

        jobs = [(cfg.data_dir, cfg.synth, cfg.num_chunks, cfg.chunk_size, k, cfg.data_workers)
                for k in range(cfg.data_workers)]  # fmt: skip
        with get_context("spawn").Pool(cfg.data_workers) as pool:
            pool.map(write_worker, jobs)
    log.info("data: %d chunks of %d samples made in %.0f s", cfg.num_chunks, cfg.chunk_size, time.time() - t0)
    return paths


def _state_dict(obj) -> dict:
    return {k: v.detach().clone() for k, v in obj.state_dict().items()}


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = load_config(TrainConfig, overrides=argv)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    start = time.time()

    ckpt = run / "checkpoint.pt"
    if ckpt.exists() and int(torch.load(ckpt, map_location="cpu", weights_only=True)["step"]) >= cfg.steps:
        log.info("%s has finished the recipe (%d steps)", ckpt, cfg.steps)
        return 0
    cfg.synth.background = list(cfg.prior.background)
    paths = make_data(cfg)
    prior = TinyPrior(cfg.prior).train()
    data = Batches(load_chunks(paths), cfg, prior.cfg.spec.max_garments)
    log.info("data: %d samples (%.0f s)", len(data), time.time() - start)

    ema = copy.deepcopy(prior).eval().requires_grad_(False)
    opt = torch.optim.AdamW(prior.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    if ckpt.exists():
        state = load_tensors(ckpt)  # weights_only: a checkpoint cannot run code
        prior.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step = int(state["step"])
        log.info("resumed from %s at step %d", ckpt, step)

    def save() -> None:
        config = json.loads(json.dumps(asdict(cfg)))
        atomic_torch_save({"model": _state_dict(prior), "ema": _state_dict(ema), "opt": opt.state_dict(),
                           "step": step, "config": config}, ckpt)  # fmt: skip
        ema.cfg.trained_steps = step
        save_tiny_prior(ema, cfg.weights_dir)

    logf = (run / "log.jsonl").open("a")
    losses: list[float] = []
    t_steps = time.time()
    while step < cfg.steps:
        for grp in opt.param_groups:
            grp["lr"] = _lr(cfg, step)
        x0, cond, fields, g = data.get(step)
        loss = train_step(prior, x0, cond, fields, g)
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
            preview(ema, cfg, None, run / f"preview_{step:06d}.png")
        if out_of_time:
            log.info("stopping at step %d after %.0f min: run the same command again to resume", step, cfg.max_minutes)
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
