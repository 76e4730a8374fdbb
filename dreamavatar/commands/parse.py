"""`dreamavatar parse "PROMPT"`: the outfit-and-body spec a prompt becomes (YAML on stdout; `--json`: one JSON object).

This is what the embedded prior is conditioned on and where every path takes the body from. Save it, edit it (any
value: a colour as a name or '#rrggbb', a garment kind, the body's six values in [0, 1]) and give it back with
`dreamavatar generate --spec FILE.yaml`. Words the parser did not use are listed under `ignored` (and on stderr).
"""

from __future__ import annotations

import argparse
import sys

SPEC_KEYS = ("body", "skin", "hair", "garments", "matched", "ignored")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="show the outfit and body a prompt asks for (the spec)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("prompt", help='e.g. "a tall woman in a navy blue hoodie and black jeans"')
    p.add_argument("--json", action="store_true", help="one JSON object with the keys " + ", ".join(SPEC_KEYS))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from dreamavatar.errors import UserError
    from prompts.parse import parse_prompt

    if not args.prompt.strip():
        raise UserError('the prompt is empty: give a description, e.g. dreamavatar parse "a knight in armour"')
    spec = parse_prompt(args.prompt)
    if args.json:
        d = spec.to_dict()
        sys.stdout.write(json.dumps({k: d[k] for k in SPEC_KEYS}) + "\n")
    else:
        sys.stdout.write("# edit and use with: dreamavatar generate --spec FILE.yaml\n" + spec.to_yaml(compact=True))
    if spec.ignored:
        print(f"not understood (ignored): {' '.join(spec.ignored)}", file=sys.stderr)
    return 0
