"""Speech -> face curves speed: about 10 s of espeak-ng speech, recognised (no transcript) and aligned (with it).
Prints wall and CPU seconds and the ratio to real time (goal: >= 10x, i.e. under 1 s for 10 s of speech on 2 cores),
for a warm decoder (the process has decoded before) and a cold one (its model load included, once per process).
CPU time is the steadier number on a shared machine.

    .venv/bin/python benchmarks/bench_face_curves.py [--repeats 3] [--fps 30]

Needs espeak-ng and pocketsphinx (pip install 'dreamavatar[speech]').
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

TEXT = ("The quick brown fox jumps over the lazy dog. My mother bought a map of Boston and Paris. "
        "We will meet at the pub before the movie begins, maybe by seven. Please pass the paper plate.")  # fmt: skip


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from dreamavatar.face import phonemes
    from dreamavatar.face.audio import load_audio
    from dreamavatar.face.speech import SpeechConfig, speech_track

    print(f"imports: {time.perf_counter() - t0:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "talk.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), TEXT], check=True)
        cfg = SpeechConfig(fps=args.fps)
        box = {}

        def cold_run() -> None:
            box["audio"] = load_audio(wav, rate=None)
            box["track"] = speech_track(box["audio"], None, cfg)

        cold = timed(cold_run)
        audio = box["audio"]
        print(f"speech: {audio.duration:.2f} s at {audio.rate} Hz -> {len(box['track'])} frames at {args.fps:g} fps")
        print(f"cold (file read + decoder load + curves): wall {cold[0]:.3f} s, cpu {cold[1]:.3f} s, "
              f"{audio.duration / cold[0]:.1f}x real time (wall), {audio.duration / max(cold[1], 1e-9):.1f}x (cpu)")
        for name, transcript in (("recognised", None), ("aligned", TEXT)):
            speech_track(audio, transcript, cfg)  # warm the decoder
            runs = [timed(lambda: speech_track(audio, transcript, cfg)) for _ in range(args.repeats)]
            wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
            print(f"{name:>10}: wall {wall:.3f} s, cpu {cpu:.3f} s for {audio.duration:.2f} s of speech: "
                  f"{audio.duration / wall:.1f}x real time (wall), {audio.duration / max(cpu, 1e-9):.1f}x (cpu)")
        stages = {
            "phone recognition": lambda: phonemes.recognize(audio, cfg.recognizer),
            "forced alignment": lambda: phonemes.align(audio, TEXT),
        }
        for name, fn in stages.items():
            wall, cpu = min(timed(fn) for _ in range(args.repeats))
            print(f"  {name}: wall {wall:.3f} s, cpu {cpu:.3f} s")


if __name__ == "__main__":
    main()
