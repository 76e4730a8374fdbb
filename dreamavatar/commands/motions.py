"""`dreamavatar motions`: list the built-in motions, one a line: the name, then a short description."""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("motions", help="list the built-in motions (name, then description)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dreamavatar.motion import list_motions

    items = list_motions()
    width = max(len(name) for name, _ in items)
    text = "".join(f"{name:<{width}}  {description}\n" for name, description in items)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `dreamavatar motions | head -3`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
