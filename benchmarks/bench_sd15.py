"""Stable Diffusion 1.5 + ControlNet-openpose at real size on this machine's CPU, and what each preset costs.

    .venv/bin/python scripts/make_sd15_random.py /tmp/sd15        # once: the real-size random folder (5.4 GB)
    .venv/bin/python benchmarks/bench_sd15.py --folder /tmp/sd15 [--out outputs/bench_sd15] [--skip-cli]
    .venv/bin/python benchmarks/bench_sd15.py --costs-only        # evaluations and FLOPs per preset, no folder

1. Parameter counts of the folder's networks against the published SD 1.5 / ControlNet-openpose ones.
2. The prior on CPU (fp32): load time and memory; what only real sizes show: a 256 px render is encoded by the VAE at
   512 px into 4 x 64 x 64 latents (8x fewer pixels a side), the ControlNet takes its condition image at 512 px and
   embeds it to the latent's 64 x 64, text embeddings are 77 x 768 and the cache serves them from memory and disk;
   seconds of each part of one SDS step (VAE encode, ControlNet + UNet under CFG, VAE backward) and of the whole.
3. The command line: `generate --steps 4 device=cpu init.iterations=20` with the folder (one 128 px camera a step:
   see CLI_OVERRIDES), then `--resume` to 6 steps,
   `animate`, `export` and `sample` on its run; each one's seconds and peak memory (the child process's max RSS),
   seconds per training step, checkpoint size.
4. Per preset: UNet + ControlNet evaluations and FLOPs per avatar, a projected GPU time from the FLOPs at an
   assumed sustained rate and an estimated peak GPU memory (projections, not measurements: `benchmarks/gpu_check.py`
   measures on a GPU).
5. The avatar's render at 128 and 256 px (one camera, the run's avatar): field samples, seconds, autograd memory.

Memory: about 6 GB for the fp32 weights plus the 512 px VAE's autograd activations; check `free -g` first.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

PROMPT = "a man wearing a red t-shirt and blue trousers"
# Sustained dense fp16/bf16 rate assumed for the projections: about 35 % of an H100's 989 TFLOP/s peak, what
# convolution-heavy UNet inference typically reaches. A projection only: gpu_check.py measures the real one.
ASSUMED_TFLOPS = 350.0


# The sd15 preset's prior at full size; the avatar's render smaller than the preset's 4 x 256 px (section 5 times
# that render on its own): a CPU step at the preset's size would take many minutes of NeRF alone.
CLI_OVERRIDES = ["train.batch=1", "train.resolution=128", "train.turntable_frames=8", "train.turntable_size=256",
                 "train.preview_every=0", "train.checkpoint_every=2"]  # fmt: skip


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KB on Linux


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


# ---- 1. parameter counts ---------------------------------------------------------------------------------------------
def parameter_counts(prior) -> dict[str, int]:
    from make_sd15_random import PUBLISHED_PARAMS, count_params

    counts = {n: count_params(getattr(prior, n)) for n in ("unet", "controlnet", "vae", "text_encoder")}
    print("\n1. parameters (folder vs published)")
    for n, c in counts.items():
        mark = "same" if c == PUBLISHED_PARAMS[n] else f"DIFFERENT from {PUBLISHED_PARAMS[n]:,}"
        print(f"   {n:13s} {c:>13,}  {mark}")
    return counts


# ---- 2. the prior ------------------------------------------------------------------------------------------------------
def prior_checks(prior, render_px: int = 256) -> dict[str, float]:
    from priors.sds import SDSConfig

    res: dict[str, float] = {}
    print("\n2. the prior on CPU (fp32)")
    r = prior.resolution
    print(f"   resolution {r} px, latents {prior.latent_shape()} (pixel / latent = {r // prior.latent_shape()[-1]})")
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, render_px, render_px, generator=g, requires_grad=True)
    cond = torch.rand(1, 3, render_px, render_px, generator=g)

    seen = {}
    hook = prior.controlnet.controlnet_cond_embedding.register_forward_hook(
        lambda m, i, o: seen.update(cond_in=tuple(i[0].shape), cond_out=tuple(o.shape)))  # fmt: skip

    # text: cold encode, memory hit, disk hit (memory cleared)
    prompts = ["front view of " + PROMPT]
    prior._embed_cache().clear()
    for f in (prior._disk_path(prompts[0]),):
        if f is not None and f.exists():
            f.unlink()
    emb, res["text_cold_s"] = timed(prior.embed, prompts)
    _, res["text_memory_s"] = timed(prior.embed, prompts)
    prior._embed_cache().clear()
    emb2, res["text_disk_s"] = timed(prior.embed, prompts)
    path = prior._disk_path(prompts[0])
    res["text_cache_file_kb"] = path.stat().st_size / 1e3 if path is not None and path.exists() else float("nan")
    assert torch.equal(emb, emb2), "the disk cache returned another embedding"
    print(f"   text embedding {tuple(emb.shape)}: encode {res['text_cold_s']:.3f} s, memory hit "
          f"{res['text_memory_s'] * 1e3:.2f} ms, disk hit {res['text_disk_s'] * 1e3:.1f} ms, "
          f"{res['text_cache_file_kb']:.0f} kB on disk")  # fmt: skip

    # parts of one SDS step, then the step as the trainer runs it
    x = torch.nn.functional.interpolate(rgb.detach(), size=(r, r), mode="bilinear")
    with torch.enable_grad():
        xg = x.clone().requires_grad_(True)
        lat, res["vae_encode_s"] = timed(prior.encode_images, xg)
        _, res["vae_backward_s"] = timed(lat.backward, torch.ones_like(lat))
    print(f"   VAE encode of a {render_px} px render at {r} px -> latents {tuple(lat.shape)}: "
          f"{res['vae_encode_s']:.2f} s forward, {res['vae_backward_s']:.2f} s backward")  # fmt: skip
    with torch.no_grad():
        x_t = torch.randn(2, *prior.latent_shape(), generator=g)
        t = torch.tensor([500, 500])
        embs = torch.cat([prior.embed([""]), emb])
        _, res["cfg_eval_s"] = timed(prior.predict_noise, x_t, t, embs, cond.expand(2, -1, -1, -1))
    print(f"   ControlNet + UNet on 2 latents (CFG): {res['cfg_eval_s']:.2f} s; the ControlNet's condition "
          f"{seen.get('cond_in')} -> {seen.get('cond_out')} (latent {tuple(x_t.shape[-2:])})")  # fmt: skip
    res["cond_px"] = seen["cond_in"][-1]
    res["cond_embed_px"] = seen["cond_out"][-1]
    hook.remove()

    rgb.grad = None
    out, t_sds = timed(prior.sds, rgb, cond, prompts, SDSConfig(guidance_scale=50.0), g)
    _, t_bwd = timed(out.loss.backward)
    res["sds_step_s"] = t_sds + t_bwd
    res["rgb_grad_nonzero"] = float((rgb.grad.abs() > 0).float().mean())
    print(f"   one SDS step (batch 1, through the VAE back to the {render_px} px render): {res['sds_step_s']:.2f} s, "
          f"gradient on {res['rgb_grad_nonzero'] * 100:.0f} % of the pixels; peak RSS so far {rss_gb():.2f} GB")
    return res


# ---- 3. the command line ------------------------------------------------------------------------------------------
def run_cli(args: list[str], label: str, log_dir: Path) -> dict:
    """Run `dreamavatar ARGS` as a child process: its seconds and its own peak RSS (from os.wait4's rusage)."""
    cmd = [str(ROOT / ".venv/bin/dreamavatar"), *args]
    out_path, err_path = log_dir / f"{label}.stdout", log_dir / f"{label}.stderr"
    t0 = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(err_path.read_text()[-3000:], file=sys.stderr)
        raise SystemExit(f"{label} failed with exit code {code}: {' '.join(cmd)}")
    peak = usage.ru_maxrss / 1e6  # KB -> GB
    last = (out_path.read_text().strip().splitlines() or [""])[-1]
    print(f"   {label:9s} {seconds:8.1f} s  peak RSS {peak:5.2f} GB  -> {last}")
    return {"seconds": seconds, "peak_rss_gb": peak}


def cli_checks(folder: Path, out_dir: Path) -> dict[str, float]:
    import shutil

    print("\n3. the command line with the folder (device=cpu)")
    run = out_dir / "run"
    if run.exists():
        shutil.rmtree(run)
    common = ["--prior", str(folder), "--out", str(run), "--no-progress", "device=cpu", "init.iterations=20",
              *CLI_OVERRIDES]  # fmt: skip
    res: dict[str, float] = {}
    runs = {"generate": run_cli(["generate", PROMPT, "--steps", "4", *common], "generate", out_dir)}
    summary = json.loads((run / "run.json").read_text())
    res["train_s_per_step"] = summary["seconds"] / summary["steps"]
    res["checkpoint_mb"] = (run / "checkpoints/last.pt").stat().st_size / 1e6
    runs["resume"] = run_cli(["generate", PROMPT, "--steps", "6", "--resume", *common], "resume", out_dir)
    resumed = json.loads((run / "run.json").read_text())
    assert resumed["steps"] == 6, resumed
    res["resumed_s_per_step"] = (resumed["seconds"] - summary["seconds"]) / 2
    runs["animate"] = run_cli(["animate", str(run), "--motion", "walk", "--frames", "0:8", "--size", "256",
                               "--out", str(out_dir / "walk.mp4")], "animate", out_dir)  # fmt: skip
    runs["export"] = run_cli(["export", str(run), "--format", "glb", "--rigged", "--out",
                              str(out_dir / "avatar.glb")], "export", out_dir)  # fmt: skip
    runs["sample"] = run_cli(["sample", PROMPT, "--prior", str(run), "--steps", "2", "--out",
                              str(out_dir / "sample.png")], "sample", out_dir)  # fmt: skip
    print(f"   training: {res['train_s_per_step']:.1f} s per step on CPU (resumed: {res['resumed_s_per_step']:.1f}); "
          f"checkpoint {res['checkpoint_mb']:.1f} MB")
    res["runs"] = runs
    return res


# ---- 4. presets ---------------------------------------------------------------------------------------------------
def preset_rows() -> list[tuple[str, object]]:
    """(label, config) of the Stable Diffusion presets under each --vram."""
    from dreamavatar.run_config import apply_vram, build_config

    rows = []
    for preset, vrams in (("sd15", (24, 12, 8)), ("sd15-dreamwaltz", (24, 8))):
        for gb in vrams:
            cfg = apply_vram(build_config(preset, ["prior.guidance.model=/sd15"]), gb)
            rows.append((f"{preset} --vram {gb}", cfg))
    return rows


def preset_costs(configs: dict, render_gb_per_camera: float | None) -> list[dict]:
    from priors.cost import network_flops, step_cost

    per_eval = network_flops(configs)
    print("\n4. per avatar, by preset (FLOPs counted on the real configurations; GPU time a PROJECTION at "
          f"{ASSUMED_TFLOPS:.0f} TFLOP/s sustained, networks only)")
    print(f"   per evaluation at 512 px: UNet {per_eval['unet'] / 1e12:.3f} TFLOP, ControlNet "
          f"{per_eval['controlnet'] / 1e12:.3f}, VAE encode {per_eval['vae_forward'] / 1e12:.3f} + backward "
          f"{per_eval['vae_backward'] / 1e12:.3f}")  # fmt: skip
    rows = []
    print(f"   {'preset':26s} {'steps':>7s} {'batch':>5s} {'UNet evals':>11s} {'ControlNet':>11s} {'PFLOP':>8s} "
          f"{'projected min':>14s}")  # fmt: skip
    for name, cfg in preset_rows():
        steps, batch = cfg.train.steps, cfg.train.batch
        tot = step_cost(per_eval, batch, vae_slicing=bool(cfg.prior.guidance.get("vae_slicing"))).times(steps)
        minutes = tot["flops"] / (ASSUMED_TFLOPS * 1e12) / 60
        peak = estimated_peak_gb(configs, cfg.prior.guidance, batch, render_gb_per_camera)
        rows.append(dict(preset=name, steps=steps, batch=batch, unet_evals=tot["unet_evals"],
                         controlnet_evals=tot["controlnet_evals"], pflop=tot["flops"] / 1e15,
                         projected_minutes=minutes, estimated_peak_gb=peak))  # fmt: skip
        print(f"   {name:26s} {steps:>7,d} {batch:>5d} {tot['unet_evals']:>11,.0f} {tot['controlnet_evals']:>11,.0f} "
              f"{tot['flops'] / 1e15:>8.1f} {minutes:>14.1f}   est. peak {peak:5.1f} GB")  # fmt: skip
    return rows


@functools.lru_cache(maxsize=None)
def vae_saved_gb(dtype=torch.float16) -> float:
    """GB the VAE encoder keeps for its backward on one 512 px image (meta device: shapes only)."""
    import diffusers.utils.logging as dlog
    from make_sd15_random import configs
    from priors.cost import _meta_models

    dlog.set_verbosity_error()  # the cast's advice about modules to keep in fp32 (there are none)
    vae = _meta_models(configs(1.0))["vae"].to(dtype)
    seen: dict[int, int] = {}

    def pack(t):
        seen[id(t)] = t.numel() * t.element_size()
        return t

    img = torch.empty(1, 3, 512, 512, device="meta", dtype=dtype, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        vae.encode(img).latent_dist.mean
    return sum(seen.values()) / 2**30


def estimated_peak_gb(configs: dict, guidance: dict, batch: int, render_gb_per_camera: float | None) -> float:
    """GPU memory estimate: fp16 weights on the GPU (all four, or the largest alone with cpu_offload) + the VAE
    encoder's saved activations (all images, or one being recomputed with vae_slicing) + the render's autograd
    memory (measured on the CPU in fp32 per camera, section 5; 2 GB a camera if not measured) + 1.5 GB for the CUDA
    context, the allocator and the UNet's working memory. An estimate; gpu_check.py measures."""
    from make_sd15_random import PUBLISHED_PARAMS

    weights = [n * 2 / 2**30 for n in PUBLISHED_PARAMS.values()]
    w = max(weights) if guidance.get("cpu_offload") else sum(weights)
    vae = vae_saved_gb() * (1 if guidance.get("vae_slicing") else batch)
    render = (render_gb_per_camera if render_gb_per_camera is not None else 2.0) * batch
    return w + vae + render + 1.5


# ---- 5. the avatar's render at the presets' sizes ------------------------------------------------------------------
def render_checks(run: Path) -> dict:
    """One camera of the run's avatar (stage 0 + a few SDS steps) at 128 and 256 px, with and without early stop:
    field samples, seconds forward and backward, and the autograd memory kept for the backward (fp32)."""
    from dreamavatar.avatar import load_avatar
    from dreamavatar.render import render_avatar
    from renderers.cameras import CameraRanges, sample_cameras

    loaded = load_avatar(run)
    avatar = loaded.avatar.requires_grad_(True)
    out = loaded.body.canonical()
    step = loaded.cfg.train.ray_step
    rows = []
    print(f"\n5. the avatar's render, one camera (ray step {step * 1e3:.0f} mm; the preset renders 4 cameras at 256 px)")
    for size, early in ((128, 0.0), (256, 0.0), (256, 1e-3)):
        cams, _ = sample_cameras(1, size, CameraRanges((1.5, 1.5), (90.0, 90.0), (30.0, 30.0), (55.0, 55.0)),
                                 (0.0, loaded.center_y, 0.0), torch.Generator().manual_seed(0))  # fmt: skip
        saved: dict = {}

        def pack(t):
            saved[(t.untyped_storage().data_ptr(), t.storage_offset(), t.numel())] = t.numel() * t.element_size()
            return t

        t0 = time.perf_counter()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            r = render_avatar(avatar, out, cams, loaded.background, step, perturb=True, early_stop=early)
        t1 = time.perf_counter()
        r["rgb"].sum().backward()
        t2 = time.perf_counter()
        row = dict(size=size, early_stop=early, samples=r["num_samples"], forward_s=t1 - t0, backward_s=t2 - t1,
                   saved_gb=sum(saved.values()) / 2**30)  # fmt: skip
        rows.append(row)
        print(f"   {size} px, early stop {early:g}: {row['samples']:,} samples, {row['forward_s']:.1f} s forward + "
              f"{row['backward_s']:.1f} s backward, {row['saved_gb']:.2f} GB kept for the backward")  # fmt: skip
        avatar.zero_grad(set_to_none=True)
    return {"rows": rows}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--folder", type=Path, default=None, help="the random SD 1.5 folder (scripts/make_sd15_random.py)")
    p.add_argument("--out", type=Path, default=ROOT / "outputs/bench_sd15")
    p.add_argument("--skip-cli", action="store_true", help="skip the command-line runs (section 3)")
    p.add_argument("--costs-only", action="store_true", help="section 4 only (no folder needed)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    p.add_argument("--render-gb", type=float, default=None,
                   help="with --costs-only: the render's autograd GB per camera measured by section 5")
    args = p.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    from make_sd15_random import configs

    report: dict = {}
    render_gb = args.render_gb
    if not args.costs_only:
        if args.folder is None or not (args.folder / "unet").is_dir():
            raise SystemExit("give --folder: make one with `python scripts/make_sd15_random.py /tmp/sd15`")
        from priors.stable_diffusion import StableDiffusionConfig, StableDiffusionPrior

        if not args.skip_cli:  # first, while this process holds no model (the children each load their own)
            args.out.mkdir(parents=True, exist_ok=True)
            report["cli"] = cli_checks(args.folder.resolve(), args.out)
        with tempfile.TemporaryDirectory() as cache:
            prior, load_s = timed(StableDiffusionPrior, StableDiffusionConfig(
                model=str(args.folder), device="cpu", text_cache_dir=cache))  # fmt: skip
            print(f"loaded {args.folder} on CPU in {load_s:.1f} s, peak RSS {rss_gb():.2f} GB")
            report["load_s"], report["load_rss_gb"] = load_s, rss_gb()
            report["params"] = parameter_counts(prior)
            report["prior"] = prior_checks(prior)
            report["prior_peak_rss_gb"] = rss_gb()
            del prior
        if not args.skip_cli:
            report["render"] = render_checks(args.out / "run")
            render_gb = next(r["saved_gb"] for r in report["render"]["rows"] if r["size"] == 256 and r["early_stop"])
    report["presets"] = preset_costs(configs(1.0), render_gb)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
