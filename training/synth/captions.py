"""Outfit attributes (named colours, garment kinds), random sampling and the captions built from them.

The words here are the tiny prior's vocabulary (`priors.tiny.text`), so captions parse back into the same slots.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from priors.tiny.text import BOTTOM_KINDS, COLORS, HAIR_KINDS, SKINS, SUBJECTS, TOP_KINDS
from prompts import view_name

# Named colours as rendered albedo (rgb in [0, 1]); 12 hues/values far enough apart to tell after shading.
COLOR_RGB: dict[str, tuple[float, float, float]] = {
    "black": (0.07, 0.07, 0.07), "white": (0.96, 0.96, 0.96), "gray": (0.50, 0.50, 0.50), "red": (0.85, 0.08, 0.08),
    "orange": (1.00, 0.50, 0.00), "yellow": (0.98, 0.88, 0.10), "green": (0.10, 0.62, 0.15), "blue": (0.10, 0.22, 0.90),
    "purple": (0.50, 0.12, 0.68), "pink": (1.00, 0.48, 0.72), "brown": (0.45, 0.26, 0.10), "cyan": (0.05, 0.78, 0.85),
}  # fmt: skip
SKIN_RGB: dict[str, tuple[float, float, float]] = {
    "light": (0.95, 0.77, 0.65), "tan": (0.80, 0.58, 0.42), "dark": (0.42, 0.28, 0.19),
}  # fmt: skip
HAIR_COLORS: tuple[str, ...] = ("black", "brown", "yellow", "red", "gray", "white", "orange", "pink", "blue", "purple")
TOP_NOUN = {"t-shirt": "t-shirt", "long-sleeved": "long-sleeved shirt", "tank": "tank top"}


@dataclass
class Outfit:
    """One synthetic person's attributes (all words from the vocabulary)."""

    subject: str
    skin: str
    hair_kind: str
    hair_color: str
    top_kind: str
    top_color: str
    bottom_kind: str
    bottom_color: str
    shoes_color: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def is_held_out(top_color: str, bottom_color: str) -> bool:
    """Top/bottom colour pairs never shown together in training (1 in 8, every colour in some), for the benchmark."""
    i, j = COLORS.index(top_color), COLORS.index(bottom_color)
    return (3 * i + 5 * j) % 8 == 1


def _pick(options: tuple[str, ...], g: torch.Generator) -> str:
    return options[int(torch.randint(len(options), (1,), generator=g))]


def sample_outfit(g: torch.Generator, held_out: bool | None = False) -> Outfit:
    """A random outfit. held_out: False = training pairs only, True = held-out pairs only, None = any."""
    subject = _pick(SUBJECTS, g)
    while True:
        top, bottom = _pick(COLORS, g), _pick(COLORS, g)
        if held_out is None or is_held_out(top, bottom) == held_out:
            break
    bottoms = BOTTOM_KINDS if subject != "man" else tuple(k for k in BOTTOM_KINDS if k != "skirt")
    hair_kinds = HAIR_KINDS if subject == "man" else tuple(k for k in HAIR_KINDS if k != "bald")
    return Outfit(
        subject=subject,
        skin=_pick(SKINS, g),
        hair_kind=_pick(hair_kinds, g),
        hair_color=_pick(HAIR_COLORS, g),
        top_kind=_pick(TOP_KINDS, g),
        top_color=top,
        bottom_kind=_pick(bottoms, g),
        bottom_color=bottom,
        shoes_color=_pick(COLORS, g),
    )


def view_word(azimuth_deg: float) -> str:
    """The view phrase's word for a camera azimuth (degrees, relative to the body's facing): the rule prompts use at
    SDS time, `prompts.view_name`."""
    return view_name(azimuth_deg)


def caption(o: Outfit, view: str | None = None, g: torch.Generator | None = None, p_optional: float = 0.7) -> str:
    """"front view of a woman with long black hair wearing a red t-shirt and blue trousers and white shoes ...".

    Top and bottom are always named; hair, shoes and skin phrases are each kept with probability `p_optional` when a
    generator is given (all kept without one), so the prior also learns from partial prompts.
    """

    def keep() -> bool:
        return g is None or float(torch.rand(1, generator=g)) < p_optional

    keep_hair, keep_shoes, keep_skin = keep(), keep(), keep()
    bald = o.hair_kind == "bald"
    who = f"a bald {o.subject}" if bald and keep_hair else f"a {o.subject}"
    parts = [f"{view} view of {who}" if view else who]
    withs = []
    if keep_hair and not bald:
        withs.append(f"{o.hair_kind} {o.hair_color} hair")
    if keep_skin:
        withs.append(f"{o.skin} skin")
    if withs:
        parts.append("with " + " and ".join(withs))
    parts.append(f"wearing a {o.top_color} {TOP_NOUN[o.top_kind]} and {o.bottom_color} {o.bottom_kind}")
    if keep_shoes:
        parts.append(f"and {o.shoes_color} shoes")
    return " ".join(parts)
