"""The Stable Diffusion presets on one CUDA GPU, in one go, offline (about 5-8 minutes on an H100/H200).

Prepare here (network; writes .cache/gpu_check/, about 25 MB), then run there with that folder carried:

    bash benchmarks/gpu_check_prep.sh                      # wheels (diffusers, ...), the recorded body poses
    bash benchmarks/gpu_check.sh                           # on the GPU machine: installs the wheels, runs this
    .venv/bin/python benchmarks/gpu_check.py --dry-run     # here: the same code path on the CPU, tiny sizes

It builds the real-size random SD 1.5 + ControlNet-openpose folder on the GPU (scripts/make_sd15_random.py, fp16),
then measures, writing gpu_check.json (to --out, $OUT when set) and a table on stdout:
1. one SDS step (VAE encode of 256 px renders at 512 px, ControlNet + UNet under CFG, VAE backward) in fp16 and
   bf16 at 1 and 4 cameras: seconds per step and peak GPU memory;
2. whole training steps of the sd15 preset under `--vram 24|12|8` (render + condition + SDS + backward + Adam):
   seconds per step (stage 1 and stage 2), peak GPU memory, and the projected minutes per avatar (steps x measured
   seconds per step), the render in fp32 and bf16 autocast; the same for sd15-dreamwaltz;
3. seconds per animated frame at 512 px (baked canonical field) for a walk;
4. the CUDA accelerators: nerfacc's compositing against the torch path (where nerfacc builds), tinycudann's
   presence; torch.compile of the UNet + ControlNet (last, if time is left).
The body is not built there (anny is not installed): its outputs for the canonical pose, sampled training poses and
walk frames are recorded here by the prep script (bodies.pt).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

PREP = ROOT / ".cache/gpu_check"
PROMPT = "a man wearing a red t-shirt and blue trousers"


class Clock:
    """Wall-clock budget: sections check `left()` and skip what does not fit."""

    def __init__(self, budget_s: float):
        self.t0, self.budget = time.perf_counter(), budget_s

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_gb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def timed_steps(fn, n: int, warmup: int, device: torch.device) -> float:
    """Median seconds of `fn()` over n runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


# ---- recorded bodies ----------------------------------------------------------------------------------------------
def recorded_body(path: Path):
    """A `BodyModel` that replays body outputs recorded by the prep script: the canonical A-pose, and for any batch of
    poses the next recorded training poses (the poses asked for are ignored; timing is what matters here)."""
    from dreamavatar.body.base import BodyModel, BodyOutput

    data = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors (gpu_check_prep.sh)

    class RecordedBody(BodyModel):
        name = "recorded"

        def __init__(self) -> None:
            super().__init__()
            shared = data["shared"]
            self.recorded = [BodyOutput(**d, **shared) for d in data["poses"]]
            self._canonical = BodyOutput(**data["canonical"], **shared)
            self.walk = [BodyOutput(**d, **shared) for d in data["walk"]]
            self.i = 0

        def forward(self, pose, transl=None, shape=None):
            outs = []
            for _ in range(pose.shape[0]):
                outs.append(self.recorded[self.i % len(self.recorded)])
                self.i += 1
            return concat(outs)

        def canonical(self):
            return self._canonical

        @property
        def faces(self):
            return self._canonical.faces

    def concat(outs):
        first = outs[0]
        return BodyOutput(vertices=torch.cat([o.vertices for o in outs]), faces=first.faces,
                          joints=torch.cat([o.joints for o in outs]), keypoints=torch.cat([o.keypoints for o in outs]),
                          weights=first.weights,
                          joint_transforms=torch.cat([o.joint_transforms for o in outs]),
                          vertex_transforms=torch.cat([o.vertex_transforms for o in outs]))  # fmt: skip

    return RecordedBody()


# ---- sections -----------------------------------------------------------------------------------------------------
def make_prior(folder: Path, device: torch.device, **guidance):
    from priors import PriorConfig, load_prior

    cfg = PriorConfig("stable-diffusion", {"model": str(folder), "device": device.type, **guidance})
    return load_prior(cfg)


def sds_section(folder: Path, device: torch.device, dtypes: list[str], batches: list[int], render: int,
                n: int) -> list[dict]:  # fmt: skip
    from priors.sds import SDSConfig

    rows = []
    for dtype in dtypes:
        reset_peak(device)
        prior = make_prior(folder, device, dtype=dtype, channels_last=device.type == "cuda")
        weights_gb = peak_gb(device)
        for b in batches:
            g = torch.Generator(device=device).manual_seed(0)
            rgb = torch.rand(b, 3, render, render, device=device, generator=g, requires_grad=True)
            cond = torch.rand(b, 3, render, render, device=device, generator=g)
            prompts = ["front view of " + PROMPT] * b
            prior.embed(prompts + [""])

            def step():
                out = prior.sds(rgb, cond, prompts, SDSConfig(guidance_scale=50.0), g)
                out.loss.backward()

            reset_peak(device)
            s = timed_steps(step, n, 1, device)
            rows.append(dict(dtype=dtype, batch=b, seconds_per_step=s, peak_gb=peak_gb(device), weights_gb=weights_gb))
            print(f"  SDS {dtype:9s} batch {b}: {s * 1e3:8.1f} ms/step  peak {rows[-1]['peak_gb']:6.2f} GB", flush=True)
        prior = None  # frees its GPU memory before the next dtype
    return rows


def build_trainer(folder: Path, device: torch.device, preset: str, vram: int | None, body, overrides: list[str],
                  run_root: Path):  # fmt: skip
    from dreamavatar.run_config import apply_vram, build_config
    from dreamavatar.run_dir import RunDir
    from dreamavatar.train.trainer import Trainer

    cfg = build_config(preset, [f"prompt='{PROMPT}'", "prior.guidance_type=stable-diffusion",
                                f"prior.guidance.model='{folder}'", f"device={device.type}", *overrides])  # fmt: skip
    if vram is not None:
        cfg = apply_vram(cfg, vram)
    run = RunDir(run_root / f"{preset}-{vram}-{time.monotonic_ns()}")
    return Trainer(cfg, run, body=body, progress=False)


def train_section(folder: Path, device: torch.device, body, presets: list[tuple[str, int | None, str]],
                  overrides: list[str], n: int, clock: Clock) -> list[dict]:  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset, vram, precision in presets:
            if clock.left() < 60:
                print(f"  (skipped {preset} --vram {vram} {precision}: out of time)")
                continue
            reset_peak(device)
            trainer = build_trainer(folder, device, preset, vram, body, [f"train.precision={precision}", *overrides],
                                    Path(tmp))  # fmt: skip
            cfg = trainer.cfg
            stage2_step = cfg.train.steps - 1

            def step(i):
                res = trainer.train_step(i)
                trainer.optimizer.step()
                return res

            s1 = timed_steps(lambda: step(0), n, 1, device)
            s2 = timed_steps(lambda: step(stage2_step), n, 1, device)
            canonical = int(cfg.train.animate_from * cfg.train.steps)
            minutes = (canonical * s1 + (cfg.train.steps - canonical) * s2) / 60
            rows.append(dict(preset=preset, vram=vram, precision=precision, batch=cfg.train.batch, steps=cfg.train.steps,
                             stage1_s=s1, stage2_s=s2, peak_gb=peak_gb(device), projected_minutes=minutes))  # fmt: skip
            print(f"  {preset:16s} --vram {vram!s:4s} {precision:4s} batch {cfg.train.batch}: stage 1 {s1:6.3f} s, "
                  f"stage 2 {s2:6.3f} s/step, peak {rows[-1]['peak_gb']:6.2f} GB -> {cfg.train.steps:,} steps "
                  f"= {minutes:7.1f} min (measured s/step x steps)", flush=True)  # fmt: skip
            trainer = None  # frees its GPU memory before the next preset
    return rows


def animate_section(folder: Path, device: torch.device, body, size: int, frames: int, overrides: list[str]) -> dict:
    from dreamavatar.condition import view_cameras
    from dreamavatar.field.bake import bake_avatar
    from dreamavatar.render import render_avatar

    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(folder, device, "sd15", 24, body, overrides, Path(tmp))
        avatar, bg, step = trainer.avatar.eval(), trainer.background_fn(), trainer.cfg.train.ray_step
        del trainer.prior
        reset_peak(device)
        t0 = time.perf_counter()
        baked = bake_avatar(avatar, body.canonical().to(device), 0.01)
        sync(device)
        bake_s = time.perf_counter() - t0
        walk = body.walk[:frames]
        cams = view_cameras("front", size, *_extent(body))
        with torch.no_grad():
            s = timed_steps(lambda: [render_avatar(avatar, o, cams, bg, step, baked=baked) for o in walk], 1, 1, device)
    res = dict(size=size, frames=len(walk), seconds_per_frame=s / len(walk), bake_s=bake_s, peak_gb=peak_gb(device))
    print(f"  animate {size} px: {res['seconds_per_frame'] * 1e3:.1f} ms/frame (baked in {bake_s:.1f} s), "
          f"peak {res['peak_gb']:.2f} GB", flush=True)
    return res


def _extent(body) -> tuple[float, float]:
    from dreamavatar.condition import body_extent

    return body_extent(body)


def accelerators_section(device: torch.device, clock: Clock) -> dict:
    """nerfacc compositing vs the torch path on the same packed samples; tinycudann present or not."""
    import importlib.util

    res: dict = {"tinycudann": importlib.util.find_spec("tinycudann") is not None}
    if device.type != "cuda" or importlib.util.find_spec("nerfacc") is None or clock.left() < 120:
        res["nerfacc"] = "not run (no CUDA, not installed, or out of time)"
        return res
    try:
        from renderers.volume import render_rays
        from renderers.samplers import StratifiedSampler

        class Blob(torch.nn.Module):
            def forward(self, x, d):
                r = x.norm(dim=-1)
                return torch.relu(20 * (0.5 - r)) * 10, torch.sigmoid(x)

        o = torch.zeros(65536, 3, device=device)
        o[:, 2] = -2
        d = torch.nn.functional.normalize(torch.randn(65536, 3, device=device) * 0.1 + torch.tensor([0, 0, 1.0],
                                                                                                  device=device), dim=-1)
        sampler = StratifiedSampler(num_samples=128)
        aabb = torch.tensor([[-1.0] * 3, [1.0] * 3], device=device)
        out = {}
        for backend in ("torch", "nerfacc"):
            f = lambda: render_rays(o, d, Blob(), sampler, 0.0, 10.0, aabb, backend=backend)  # noqa: E731
            out[backend] = (timed_steps(f, 5, 2, device), f()["rgb"])
        res["nerfacc"] = dict(torch_ms=out["torch"][0] * 1e3, nerfacc_ms=out["nerfacc"][0] * 1e3,
                              max_abs_diff=float((out["torch"][1] - out["nerfacc"][1]).abs().max()))  # fmt: skip
    except Exception as e:  # a failed CUDA build is a result here, not a crash
        res["nerfacc"] = f"failed: {' '.join(str(e).split())[:300]}"
    print(f"  accelerators: {res}", flush=True)
    return res


def compile_section(folder: Path, device: torch.device, clock: Clock, n: int) -> dict:
    if device.type != "cuda" or clock.left() < 180:
        return {"compile": "not run (no CUDA or out of time)"}
    from priors.sds import SDSConfig

    reset_peak(device)
    prior = make_prior(folder, device, channels_last=True, compile=True)
    g = torch.Generator(device=device).manual_seed(0)
    rgb = torch.rand(4, 3, 256, 256, device=device, generator=g, requires_grad=True)
    cond = torch.rand(4, 3, 256, 256, device=device, generator=g)

    def step():
        prior.sds(rgb, cond, ["front view of " + PROMPT] * 4, SDSConfig(guidance_scale=50.0), g).loss.backward()

    t0 = time.perf_counter()
    step()
    sync(device)
    first = time.perf_counter() - t0
    s = timed_steps(step, n, 1, device)
    print(f"  torch.compile: first step {first:.1f} s, then {s * 1e3:.1f} ms/step at batch 4", flush=True)
    return {"compile_first_step_s": first, "compiled_seconds_per_step": s}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="CPU, a width-0.05 folder, 32 px renders: the code path")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "outputs/gpu_check")))
    p.add_argument("--budget", type=float, default=450.0, help="seconds; later sections are skipped past it")
    p.add_argument("--folder", type=Path, default=None, help="an existing random SD folder (default: build one)")
    args = p.parse_args()
    clock = Clock(args.budget)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: run with --dry-run to check the code path on the CPU")
    device = torch.device("cpu" if args.dry_run else "cuda")
    report: dict = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if device.type == "cuda"
                    else "cpu (dry run)", "measured": not args.dry_run}  # fmt: skip
    print(f"gpu_check on {report['device']} (torch {torch.__version__})", flush=True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    from make_sd15_random import make_folder

    folder = args.folder or Path(tempfile.mkdtemp(prefix="sd15_random_"))
    if args.folder is None:
        t0 = time.perf_counter()
        make_folder(folder, width=0.05 if args.dry_run else 1.0, dtype="float32" if args.dry_run else "float16",
                    device="cuda" if device.type == "cuda" else "cpu", log=lambda m: None)  # fmt: skip
        report["make_folder_s"] = time.perf_counter() - t0
        print(f"  built {folder} in {report['make_folder_s']:.1f} s", flush=True)
    body = recorded_body(PREP / "bodies.pt")
    small = ["train.resolution=32", "init.iterations=1"] if args.dry_run else []
    n = 1 if args.dry_run else 5
    sections = [
        ("sds", lambda: sds_section(folder, device, ["float32"] if args.dry_run else ["float16", "bfloat16"],
                                    [1] if args.dry_run else [1, 4], 32 if args.dry_run else 256, n)),
        ("train", lambda: train_section(folder, device, body, [("sd15", 24, "fp32")] if args.dry_run else
                                        [("sd15", 24, "fp32"), ("sd15", 24, "bf16"), ("sd15", 12, "fp32"),
                                         ("sd15", 8, "fp32"), ("sd15-dreamwaltz", 24, "fp32")], small, n, clock)),
        ("animate", lambda: animate_section(folder, device, body, 32 if args.dry_run else 512, 2 if args.dry_run
                                            else 16, small)),
        ("accelerators", lambda: accelerators_section(device, clock)),
        ("compile", lambda: compile_section(folder, device, clock, n)),
    ]  # fmt: skip
    for name, fn in sections:
        print(f"{name}:", flush=True)
        try:
            report[name] = fn()
        except Exception as e:  # keep what was measured so far
            report[name] = f"failed: {type(e).__name__}: {' '.join(str(e).split())[:500]}"
            print(f"  {report[name]}", flush=True)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    if args.folder is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.out / 'gpu_check.json'} ({time.perf_counter() - clock.t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
