"""The `dreamavatar` command: one module per subcommand in `dreamavatar.commands`.

stdout holds results only; logs, banners and progress go to stderr. A user error ends with one line naming the fix
and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from typing import Sequence

# OpenMP threads that spin while they wait are many times slower on shared cores; read when torch loads, so set here
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from dreamavatar.errors import UserError

# Each name is a module `dreamavatar.commands.<name>` with `register(subparsers)`; imported when the parser is built,
# so keep those modules light (heavy imports inside their `run`).
COMMANDS = ("generate", "batch", "parse", "animate", "compose", "export", "face-curves", "sample", "skeleton", "motions")

EXIT_USER_ERROR = 2
BODY_COMMANDS = ("generate", "animate", "compose", "export", "sample", "skeleton")  # those that build a body
_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dreamavatar", description="Text prompt -> animatable 3D human avatar.")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log lines on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"dreamavatar.commands.{name.replace('-', '_')}").register(sub)
    return parser


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions that are the user's to fix: printed as one line, exit code 2."""
    from priors.errors import PriorError
    from prompts.errors import PromptError
    from renderers.errors import RenderError

    return (UserError, PriorError, PromptError, RenderError)


def parse_args(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """The command line -> its namespace (`args.func(args)` runs it); bad arguments exit 2 with argparse's message."""
    parser = parser or build_parser()
    # `key=value` overrides may stand anywhere after the subcommand (argparse cannot interleave them with options)
    args, unknown = parser.parse_known_args(argv)
    overrides = [u for u in unknown if _OVERRIDE.match(u)]
    rest = [u for u in unknown if not _OVERRIDE.match(u)]
    if rest or (overrides and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(rest or overrides)}")
    if overrides:
        args.overrides = list(args.overrides or []) + overrides
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(argv, parser)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    if args.command in BODY_COMMANDS and getattr(args, "body", None) != "smpl":
        from dreamavatar.first_run import announce_first_build

        announce_first_build()  # a fresh machine says what it is doing before the heavy imports
    try:
        return int(args.func(args) or 0)
    except user_error_types() as e:
        print(f"dreamavatar {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
