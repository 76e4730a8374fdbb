"""Make wardrobe chunks (optionally in parallel processes) or a contact sheet.

    .venv/bin/python -m training.synth write DIR --chunks 160 --chunk-size 512 [--workers 2] [--split train] [--seed 0]
    .venv/bin/python -m training.synth sheet outputs/wardrobe_sheet.png [--n 64] [--split train] [--seed 0]

`write` skips chunks that exist (resumable); workers take chunks i, i + workers, ... each with one thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    from training.synth.dataset import SynthConfig

    ap = argparse.ArgumentParser(prog="python -m training.synth", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write chunks to DIR")
    w.add_argument("out")
    w.add_argument("--chunks", type=int, required=True)
    w.add_argument("--chunk-size", type=int, default=512)
    w.add_argument("--workers", type=int, default=1)
    s = sub.add_parser("sheet", help="write a contact sheet PNG of random samples")
    s.add_argument("out")
    s.add_argument("--n", type=int, default=64)
    for p in (w, s):
        p.add_argument("--split", default="train", choices=("train", "heldout"))
        p.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    cfg = SynthConfig(seed=a.seed, split=a.split)
    if a.cmd == "sheet":
        from training.synth.dataset import SynthGenerator
        from training.synth.sheet import contact_sheet

        data = SynthGenerator(cfg).chunk(9999, a.n)
        print(contact_sheet(data, a.out, n=a.n))
        return 0
    t0 = time.time()
    if a.workers <= 1:
        from training.synth.dataset import write_chunks

        paths = write_chunks(a.out, cfg, a.chunks, a.chunk_size)
    else:
        from multiprocessing import get_context

        from training.synth.dataset import write_worker

        with get_context("spawn").Pool(a.workers) as pool:
            pool.map(write_worker, [(a.out, cfg, a.chunks, a.chunk_size, k, a.workers) for k in range(a.workers)])
        paths = [f"{a.out}/chunk_{i:04d}.npz" for i in range(a.chunks)]
    print(f"{len(paths)} chunks in {a.out} ({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
