"""Wall time of `dreamavatar batch` on N prompts: one after another in one process (no Ray), on local Ray with 1
worker (all cores to one prompt) and with 2 workers (the cores split), side by side in one run; and what Ray adds per
task: the start and stop of a local instance, a no-op task's round trip, and the whole difference between 1 Ray worker
and the in-process runs (Ray plus a child process per prompt, which loads python, torch, the body and the prior).

Every run uses the tiny preset at 32 px with a warm stage-0 cache (filled by an untimed run first).

    .venv/bin/python benchmarks/bench_batch.py [--prompts 4] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prompts import prompt_texts


def batch(prompt_file: Path, out: Path, steps: int, cache: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "dreamavatar", "batch", str(prompt_file), "--out", str(out), "--no-progress",
           "--steps", str(steps), "init.iterations=40", "init.resolution=32", "init.views=16",
           f"init.cache_dir={cache}", "train.resolution=32", "train.preview_every=0", "train.turntable_frames=8",
           "train.turntable_size=64", *extra]  # fmt: skip
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"batch failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return time.perf_counter() - t0


def ray_costs(tasks: int = 20) -> tuple[float, float, float]:
    """(start s, stop s, median no-op task round trip ms) of a local Ray instance on this machine's cores."""
    import logging

    import ray

    from dreamavatar.batch.cluster import OBJECT_STORE_BYTES, local_cpus

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=local_cpus(), include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, object_store_memory=OBJECT_STORE_BYTES)  # fmt: skip
    start = time.perf_counter() - t0
    noop = ray.remote(lambda: None)
    ray.get(noop.remote())  # a worker process up
    trips = []
    for _ in range(tasks):
        t = time.perf_counter()
        ray.get(noop.remote())
        trips.append(time.perf_counter() - t)
    t0 = time.perf_counter()
    ray.shutdown()
    return start, time.perf_counter() - t0, 1000 * statistics.median(trips)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    texts = prompt_texts("colors")[: args.prompts]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prompt_file = tmp / "prompts.txt"
        prompt_file.write_text("\n".join(texts) + "\n")
        warm = tmp / "warm.txt"
        warm.write_text(texts[0] + "\n")
        cache = tmp / "init-cache"
        batch(warm, tmp / "warm", 1, cache, "--no-ray")
        serial = batch(prompt_file, tmp / "serial", args.steps, cache, "--no-ray")
        one = batch(prompt_file, tmp / "one", args.steps, cache, "--workers", "1")
        two = batch(prompt_file, tmp / "two", args.steps, cache, "--workers", "2")
        start, stop, trip = ray_costs()
    n = len(texts)
    print(f"{n} prompts x {args.steps} steps, tiny preset at 32 px, {os.cpu_count()} cores")
    print(f"  in process, one after another : {serial:7.1f} s  ({serial / n:.1f} s a prompt)")
    print(f"  Ray, 1 worker  x {os.cpu_count()} threads     : {one:7.1f} s  ({one / n:.1f} s a prompt)")
    print(f"  Ray, 2 workers x {max(1, (os.cpu_count() or 2) // 2)} thread(s)     : {two:7.1f} s  ({two / n:.1f} s a prompt)")
    print(f"  speed-up of 2 workers over 1  : {one / two:.2f}x")
    print(f"Ray's cost: local start {start:.1f} s, stop {stop:.1f} s, a no-op task {trip:.1f} ms; "
          f"1 worker vs in process {(one - serial) / n:+.1f} s a prompt (Ray + a child process per prompt)")


if __name__ == "__main__":
    main()
