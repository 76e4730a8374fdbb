"""Named colours and colour modifiers, pure Python.

The table is matplotlib's: the 949 names of the XKCD colour survey (what people call a colour, e.g. "navy blue",
"forest green", "dusty rose") first, then the 148 CSS4 names for the rest ("navajowhite", "darkslategray"), 1,000+
names in all, plus a few that neither has (`extra_colors` in `lexicon/words.yaml`: "blond", "rose gold", ...).
matplotlib's package `__init__` costs about 0.25 s to import (rcParams, fonts); its colour data is a plain module of
dicts, so it is read on its own (about 1 ms), and `matplotlib.colors` is imported only where that file cannot be found.

Modifiers ("dark", "light", "pale", "bright", "deep", "neon", "pastel", "muted", ...) act in OKLab (Ottosson 2020), a
perceptual space: lightness L and chroma C change, the hue stays, and the result is brought back into the sRGB gamut
by lowering chroma. "grey" and "gray" are one word here (`normalize_word`).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
from pathlib import Path

# Spelling variants folded before any lookup (colour names, garments, characters alike).
_SPELLING = {"gray": "grey", "grayish": "greyish", "colour": "color", "coloured": "colored", "colours": "colors",
             "armour": "armor", "armoured": "armored", "pyjamas": "pajamas", "jewellery": "jewelry"}  # fmt: skip


def normalize_word(word: str) -> str:
    return _SPELLING.get(word, word)


_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[,;.!?()]")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (hyphens and slashes split words: "t-shirt" -> t, shirt) and punctuation tokens;
    a possessive "'s" is dropped ("robin's egg" -> robin, egg)."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("&", " and ")
    out = []
    for t in _TOKEN.findall(text):
        if t.endswith("'s"):
            t = t[:-2]
        out.append(t)
    return out


def phrase_key(text: str) -> tuple[str, ...]:
    """The lookup key of a phrase: its normalised tokens."""
    return tuple(normalize_word(t) for t in tokenize(text) if t not in ",;.!?()")


# ---- sRGB <-> OKLab ---------------------------------------------------------------------------------------------
def _to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _to_srgb(c: float) -> float:
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def _cbrt(x: float) -> float:
    return math.copysign(abs(x) ** (1 / 3), x)


def srgb_to_oklab(rgb) -> tuple[float, float, float]:
    """sRGB in [0, 1] -> OKLab (L in [0, 1], a, b roughly in [-0.4, 0.4])."""
    r, g, b = (_to_linear(float(c)) for c in rgb)
    l_ = _cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b)
    m_ = _cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b)
    s_ = _cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b)
    return (
        0.2104542553 * l_ + 0.7936177850 * m_ - 0.0040720468 * s_,
        1.9779984951 * l_ - 2.4285922050 * m_ + 0.4505937099 * s_,
        0.0259040371 * l_ + 0.7827717662 * m_ - 0.8086757660 * s_,
    )


def oklab_to_srgb(lab) -> tuple[float, float, float]:
    """OKLab -> sRGB (not clipped: values outside [0, 1] are out of gamut)."""
    L, a, b = (float(v) for v in lab)
    l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3  # noqa: E741
    m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3
    s = (L - 0.0894841775 * a - 1.2914855480 * b) ** 3
    lin = (
        4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
        -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
        -0.0041960863 * l - 0.7034186147 * m + 1.7076147010 * s,
    )
    return tuple(_to_srgb(c) for c in lin)  # type: ignore[return-value]


def oklch(rgb) -> tuple[float, float, float]:
    """sRGB -> (L, C, hue in radians) of OKLab."""
    L, a, b = srgb_to_oklab(rgb)
    return L, math.hypot(a, b), math.atan2(b, a)


def from_oklch(L: float, C: float, h: float) -> tuple[float, float, float]:
    """(L, C, h) -> sRGB in [0, 1], keeping L and h and lowering C until the colour is in gamut."""
    L = min(max(L, 0.0), 1.0)

    def rgb(c):
        return oklab_to_srgb((L, c * math.cos(h), c * math.sin(h)))

    def inside(v):
        return all(-1e-6 <= x <= 1 + 1e-6 for x in v)

    if not inside(rgb(C)):
        lo, hi = 0.0, C
        for _ in range(24):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if inside(rgb(mid)) else (lo, mid)
        C = lo
    return tuple(min(max(x, 0.0), 1.0) for x in rgb(C))  # type: ignore[return-value]


def hex_of(rgb) -> str:
    return "#" + "".join(f"{max(0, min(255, round(float(v) * 255))):02x}" for v in rgb)


def rgb_of(color: str) -> tuple[float, float, float]:
    return tuple(int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


# ---- modifiers ----------------------------------------------------------------------------------------------------
# name -> (L, C, h, strength) -> (L', C'); strength > 1 for "very dark", < 1 for "slightly dark".
def _toward(x: float, target: float, t: float) -> float:
    return x + (target - x) * min(max(t, 0.0), 1.0)


@functools.lru_cache(maxsize=512)
def _cusp(h: float) -> tuple[float, float]:
    """(L, C) of the most chromatic sRGB colour of hue h (radians, rounded by the caller)."""
    best = (0.0, 0.0)
    for i in range(40, 99, 2):
        L = i / 100
        lo, hi = 0.0, 0.4
        for _ in range(16):
            mid = (lo + hi) / 2
            rgb = oklab_to_srgb((L, mid * math.cos(h), mid * math.sin(h)))
            lo, hi = (mid, hi) if all(-1e-6 <= x <= 1 + 1e-6 for x in rgb) else (lo, mid)
        if lo > best[1]:
            best = (L, lo)
    return best


def _neon(L: float, C: float, h: float, s: float) -> tuple[float, float]:
    """The most chromatic colour sRGB has at this hue (its gamut cusp)."""
    if C < 0.02:  # a grey has no hue to light up
        return min(L + 0.15, 1.0), C
    return _cusp(round(h, 2))


MODIFIERS = {
    "dark": lambda L, C, h, s: (L * (1 - 0.3 * s), C * (1 - 0.1 * s)),
    "deep": lambda L, C, h, s: (L * (1 - 0.2 * s), C * (1 + 0.15 * s)),
    "light": lambda L, C, h, s: (_toward(L, 1.0, 0.4 * s), C * (1 - 0.25 * s)),
    "pale": lambda L, C, h, s: (_toward(L, 1.0, 0.55 * s), C * max(0.0, 1 - 0.55 * s)),
    "pastel": lambda L, C, h, s: (max(_toward(L, 1.0, 0.5 * s), 0.85), min(C * 0.6, 0.09)),
    "bright": lambda L, C, h, s: (_toward(L, 1.0, 0.1 * s), C * (1 + 0.3 * s)),
    "vivid": lambda L, C, h, s: (L, C * (1 + 0.3 * s)),
    "neon": _neon,
    "muted": lambda L, C, h, s: (L, C * max(0.0, 1 - 0.45 * s)),
    "dusty": lambda L, C, h, s: (_toward(L, 0.7, 0.3 * s), C * max(0.0, 1 - 0.45 * s)),
}


def modify(color: str, modifier: str, strength: float = 1.0) -> str:
    """Apply a modifier (one of MODIFIERS) to '#rrggbb' in OKLCh; returns '#rrggbb'."""
    L, C, h = oklch(rgb_of(color))
    L2, C2 = MODIFIERS[modifier](L, C, h, strength)
    return hex_of(from_oklch(L2, max(C2, 0.0), h))


def contrast_color(color: str) -> str:
    """White or black, whichever stands out on `color` (the second colour of a pattern nobody named)."""
    return "#111111" if srgb_to_oklab(rgb_of(color))[0] > 0.62 else "#f2f2f2"


# ---- the table ----------------------------------------------------------------------------------------------------
def _matplotlib_color_data():
    """matplotlib's `_color_data` module, loaded from its file without importing matplotlib itself."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "_color_data.py"
        if path.is_file():
            s = importlib.util.spec_from_file_location("_dreamavatar_mpl_color_data", path)
            module = importlib.util.module_from_spec(s)
            s.loader.exec_module(module)  # type: ignore[union-attr]
            if hasattr(module, "XKCD_COLORS") and hasattr(module, "CSS4_COLORS"):
                return module
    import matplotlib.colors  # the public names (slower to import)

    return matplotlib.colors


@functools.lru_cache(maxsize=1)
def color_table() -> dict[tuple[str, ...], tuple[str, str]]:
    """phrase key -> ('#rrggbb', display name): XKCD names first, then CSS4 names they lack."""
    data = _matplotlib_color_data()
    table: dict[tuple[str, ...], tuple[str, str]] = {}
    # "purple/pink" is read "purple pink" unless that is an XKCD name of its own (it is: another colour)
    for name, hexcode in sorted(data.XKCD_COLORS.items(), key=lambda kv: "/" in kv[0]):
        name = name.removeprefix("xkcd:").replace("/", " ")
        table.setdefault(phrase_key(name), (hexcode.lower(), name))
    words = {w for key in table for w in key}
    for name, hexcode in data.CSS4_COLORS.items():
        table.setdefault(phrase_key(name), (hexcode.lower(), name))
        spaced = _split(name, words)  # CSS writes "darkslateblue"; people write "dark slate blue"
        if spaced:
            table.setdefault(phrase_key(spaced), (hexcode.lower(), spaced))
    return table


def _split(name: str, words: set[str]) -> str | None:
    """'darkslateblue' -> 'dark slate blue' when every piece is a word of the XKCD names, else None."""
    best: list[list[str] | None] = [[]] + [None] * len(name)
    for end in range(1, len(name) + 1):
        for start in range(end):
            piece = name[start:end]
            if best[start] is not None and piece in words and len(piece) > 2:
                cand = best[start] + [piece]
                if best[end] is None or len(cand) < len(best[end]):
                    best[end] = cand
    parts = best[len(name)]
    return " ".join(parts) if parts and len(parts) > 1 else None


def lookup(name: str) -> str:
    """'#rrggbb' of a colour name (table names, with an optional modifier in front: "dark maroon") or a hex code.
    Raises KeyError for an unknown name."""
    if re.fullmatch(r"#[0-9a-fA-F]{6}", name):
        return name.lower()
    key = phrase_key(name)
    table = color_table()
    if key in table:
        return table[key][0]
    if len(key) > 1 and key[0] in MODIFIERS and key[1:] in table:
        return modify(table[key[1:]][0], key[0])
    raise KeyError(name)


__all__ = [
    "MODIFIERS", "color_table", "contrast_color", "from_oklch", "hex_of", "lookup", "modify", "normalize_word",
    "oklab_to_srgb", "oklch", "phrase_key", "rgb_of", "srgb_to_oklab", "tokenize",
]  # fmt: skip
