"""The prompt parser: share of content words used and time per prompt, side by side with the tiny prior's slot grammar.

Content words are a prompt's words less the stop words of `prompts/lexicon/words.yaml` (articles, pronouns,
prepositions, auxiliaries, conjunctions, "wearing" ...); a content word is used when the spec does not list it under
`ignored`. For the slot grammar (`priors.tiny.text`, what the embedded prior reads today) a content word counts as
known when it is in its vocabulary. Also times loading the tables in a fresh process (with and without the JSON cache
of the YAML files) and `parse_prompt` per prompt once they are loaded.

    .venv/bin/python benchmarks/bench_parse.py [--set realistic] [--repeat 50] [--show]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

_FRESH = """
import os, sys, time
t0 = time.perf_counter()
from prompts.parse import parse_prompt
t1 = time.perf_counter()
parse_prompt("a man")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def fresh_load(cache: str) -> tuple[float, float]:
    import os

    env = dict(os.environ, DREAMAVATAR_LEXICON_CACHE=cache, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _FRESH], env=env, capture_output=True, text=True, check=True)
    a, b = out.stdout.split()
    return float(a) * 1000, float(b) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="realistic", help="prompt set name or YAML file (default: realistic)")
    ap.add_argument("--repeat", type=int, default=50, help="parses per prompt for the timing")
    ap.add_argument("--show", action="store_true", help="print every prompt's ignored words")
    args = ap.parse_args()

    from priors.tiny import text as tiny_text
    from prompts import load_prompt_set
    from prompts.parse import content_words, parse_prompt

    prompts = load_prompt_set(args.set).texts
    vocab = set(tiny_text.build_vocab())
    total = used = known = 0
    for p in prompts:
        words = content_words(p)
        ignored = set(parse_prompt(p).ignored)
        total += len(words)
        used += sum(w not in ignored for w in words)
        known += sum(tiny_text.SYNONYMS.get(w, w) in vocab for w in words)
        if args.show and ignored:
            print(f"  {p!r}: ignored {sorted(ignored)}")

    times = []
    for p in prompts:
        t = time.perf_counter()
        for _ in range(args.repeat):
            parse_prompt(p)
        times.append((time.perf_counter() - t) / args.repeat * 1000)
    times.sort()

    cold_import, cold_first = fresh_load("off")
    warm_import, warm_first = fresh_load("")
    fresh_load("")  # the cache is written by the first cached run; time the second
    warm_import, warm_first = fresh_load("")
    print(f"prompt set {args.set!r}: {len(prompts)} prompts, {total} content words")
    print(f"  content words used by parse_prompt:        {used / total:6.1%}  ({used}/{total})")
    print(f"  content words known to the slot grammar:   {known / total:6.1%}  ({known}/{total})")
    print(f"  ratio:                                     {used / max(known, 1):6.2f}x")
    print(f"parse_prompt per prompt (tables loaded, {args.repeat} repeats): median {statistics.median(times):.3f} ms, "
          f"max {times[-1]:.3f} ms (goal < 5 ms)")  # fmt: skip
    print(f"fresh process: import {warm_import:.0f} ms + tables {warm_first:.0f} ms (JSON cache), "
          f"import {cold_import:.0f} ms + tables {cold_first:.0f} ms (YAML, no cache)")  # fmt: skip


if __name__ == "__main__":
    main()
