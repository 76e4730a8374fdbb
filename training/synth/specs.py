"""Random outfit-and-body specs (`prompts.spec.Spec`) for the wardrobe, and the held-out split of the benchmark.

`sample_spec(g, split)` draws a body (`bodies.sample_body`), a skin tone, hair and an outfit by region:
    - either a one-piece `full` garment (30 %; overalls may have a top under them) or a `top` and a `bottom`;
    - an `outer` layer over the top (30 %; also over a dress, jumpsuit, uniform or scrubs), a `back` piece (cape,
      cloak or wings, 16 %) with anything, `head` (40 %), `feet` (88 %) and `hands` (12 %) optional;
    - every garment has a continuous colour (`sample_color`), a material (the kind's default 70 %, else one that
      suits its region), a pattern (plain 78 %, 95 % on head, feet and hands; stripes, checks, blocks, dots with a
      contrasting second colour), and
      length / sleeves jittered around the kind's default half of the time (None: the default).
Every kind of `prompts.spec.GARMENT_KINDS`, every material, pattern and hair style is drawn.

Colours (`sample_color`): 18 % near-neutral (chroma < 6, lightness U[4, 97]: blacks, greys, whites), otherwise
CIELAB lightness U[8, 95], hue angle U[0, 360) and chroma from 13 up to the sRGB gamut's edge at that lightness and
hue (13 + (max - 13) u^0.75, u uniform), so dark, light and saturated colours are all covered.

Held-out split (what training never sees; `split="heldout"` draws only specs with at least one of them):
    HELDOUT_HUES   garment colours (colour or second colour, chroma >= 12) whose CIELAB hue angle h_ab lies in
                   [185, 205) deg (teal, cyan, turquoise) or [316, 336) deg (purple, violet, magenta);
    HELDOUT_COMBOS a garment of these kinds with a colour (chroma >= 12) in the hue band next to it:
                   dress [125, 150) green, skirt [280, 300) blue, coat [20, 45) red, cape [90, 110) yellow/gold,
                   trousers [55, 75) orange, hoodie [350, 10) pink-red.
Skin and hair colours are never held out (hair dyes avoid the held-out hue bands in both splits).
"""

from __future__ import annotations

import math
import random

import torch

from prompts.spec import GARMENT_KINDS, MATERIALS, PATTERNS, Body, Garment, Hair, Skin, Spec
from training.synth.bodies import sample_body
from training.synth.color import hex_to_lab, hex_to_lch, lab_to_hex, lch_to_lab1, max_chroma

SPLITS = ("train", "heldout")
HELDOUT_HUES: tuple[tuple[float, float], ...] = ((185.0, 205.0), (316.0, 336.0))
HELDOUT_COMBOS: dict[str, tuple[float, float]] = {
    "dress": (125.0, 150.0), "skirt": (280.0, 300.0), "coat": (20.0, 45.0), "cape": (90.0, 110.0),
    "trousers": (55.0, 75.0), "hoodie": (350.0, 10.0),
}  # fmt: skip
CHROMATIC = 12.0  # chroma from which a colour has a hue that can be held out

_KINDS_BY_REGION: dict[str, list[str]] = {}
for _name, _info in GARMENT_KINDS.items():
    _KINDS_BY_REGION.setdefault(_info.region, []).append(_name)

# Relative frequencies of kinds (1 where not listed): the kinds the benchmark checks are drawn more often.
_KIND_WEIGHT = {
    "dress": 6, "robe": 1.5, "armor": 1.5, "suit": 1.5, "skirt": 5, "trousers": 5, "jeans": 4, "shorts": 3,
    "t-shirt": 3, "shirt": 3, "hat": 1.5, "cape": 3, "cloak": 1.5, "wings": 1, "shoes": 3, "sneakers": 2, "boots": 2,
    "leggings": 1.5, "kilt": 1, "tutu": 0.8, "hoodie": 1.5, "sweater": 1.5, "blouse": 1.5, "coat": 2, "jacket": 2,
}  # fmt: skip
# Materials that suit a region (drawn 30 % of the time instead of the kind's default).
_MATERIALS_BY_REGION = {
    "head": ("cloth", "wool", "fur", "leather", "metal", "plastic"), "top": ("cloth", "silk", "wool", "denim", "leather"),
    "outer": ("cloth", "wool", "leather", "denim", "fur", "rubber"), "full": MATERIALS,
    "bottom": ("cloth", "denim", "leather", "silk", "wool", "rubber"), "feet": ("leather", "rubber", "cloth", "plastic"),
    "hands": ("leather", "cloth", "wool", "rubber", "metal"), "back": ("cloth", "silk", "wool", "fur", "leather"),
}  # fmt: skip
_HAIR_WEIGHT = {"bald": 0.6, "buzz": 0.8, "short": 2.5, "long": 2.5, "ponytail": 1.2, "bun": 1, "curly": 1, "afro": 0.7,
                "braids": 0.7}  # fmt: skip
# Natural hair colours as CIELAB (L, C, h) ranges; dyed hair (15 %) is any sampled colour outside the held-out hues.
_NATURAL_HAIR = (
    ((6, 16), (0, 4), (40, 80)),  # black
    ((15, 32), (6, 20), (45, 70)),  # dark / mid brown
    ((32, 48), (15, 30), (55, 75)),  # light brown
    ((55, 78), (20, 42), (72, 92)),  # blonde
    ((35, 52), (30, 50), (40, 58)),  # red / auburn / ginger
    ((55, 88), (0, 5), (0, 360)),  # grey, white
)
# Skin tones: CIELAB anchors from light to deep, interpolated with a little jitter.
_SKIN = ((84, 7, 14), (76, 11, 18), (66, 14, 22), (55, 15, 24), (44, 14, 21), (32, 11, 15))
Rng = random.Random  # the sampler's generator: seeded by one draw from the caller's torch.Generator


def _rand(g: Rng) -> float:
    return g.random()


def _uniform(g: Rng, lo: float, hi: float) -> float:
    return g.uniform(lo, hi)


def _choice(g: Rng, options, weights=None):
    return g.choices(list(options), weights=None if weights is None else list(weights))[0]


def in_band(hue: float, band: tuple[float, float]) -> bool:
    lo, hi = band
    h = hue % 360
    return lo <= h < hi if lo <= hi else (h >= lo or h < hi)


def heldout_reason(kind: str, color: str) -> str | None:
    """Why a garment of `kind` in colour `color` (#rrggbb) is held out of training ("hue" or "combo"), or None."""
    L, C, h = hex_to_lch(color)
    if C < CHROMATIC:
        return None
    if any(in_band(h, b) for b in HELDOUT_HUES):
        return "hue"
    if kind in HELDOUT_COMBOS and in_band(h, HELDOUT_COMBOS[kind]):
        return "combo"
    return None


def is_heldout(spec: Spec) -> bool:
    """Whether any garment colour of the spec is held out of training."""
    return any(heldout_reason(g.kind, c) for g in spec.garments for c in (g.color, g.color2) if c is not None)


def sample_color(g: Rng, hue_band: tuple[float, float] | None = None) -> str:
    """A random sRGB colour (#rrggbb), continuous over CIELAB (module docstring); `hue_band`: force the hue there
    (then always chromatic, and in the band after rounding to #rrggbb)."""
    if hue_band is None and _rand(g) < 0.18:
        return lab_to_hex((_uniform(g, 4, 97), _uniform(g, -4, 4), _uniform(g, -4, 4)))
    while True:
        L = _uniform(g, 8, 95)
        if hue_band is None:
            h = _uniform(g, 0, 360)
        else:
            lo, hi = hue_band
            h = (lo + _uniform(g, 0.5, ((hi - lo) % 360 or 360) - 0.5)) % 360
        cmax = max_chroma(L, h)
        if cmax < CHROMATIC + 4:
            continue
        chroma = CHROMATIC + 1 + (cmax - CHROMATIC - 1) * _rand(g) ** 0.75  # a little towards the gamut's edge
        color = lab_to_hex(lch_to_lab1(L, chroma, h))
        _, c, h2 = hex_to_lch(color)
        if hue_band is None or (c >= CHROMATIC and in_band(h2, hue_band)):
            return color


def _train_color(g: Rng, kind: str) -> str:
    """A colour that is not held out for `kind`."""
    while True:
        c = sample_color(g)
        if heldout_reason(kind, c) is None:
            return c


def _contrasting(g: Rng, kind: str, first: str, split: str) -> str:
    """A second pattern colour clearly different from the first (CIELAB distance >= 30)."""
    a = hex_to_lab(first)
    for _ in range(100):
        c = _train_color(g, kind) if split == "train" else sample_color(g)
        if math.dist(hex_to_lab(c), a) >= 30:
            return c
    return "#ffffff" if a[0] < 50 else "#000000"


def sample_skin(g: Rng) -> Skin:
    """A skin tone: a point on the light-to-deep line of CIELAB anchors, jittered."""
    t = _rand(g) * (len(_SKIN) - 1)
    i = min(int(t), len(_SKIN) - 2)
    jitter = (_uniform(g, -3, 3), _uniform(g, -2, 2), _uniform(g, -3, 3))
    lab = tuple(p + (t - i) * (q - p) + j for p, q, j in zip(_SKIN[i], _SKIN[i + 1], jitter))
    return Skin(color=lab_to_hex(lab))


def sample_hair(g: Rng, body) -> Hair:
    weights = dict(_HAIR_WEIGHT)
    if body.gender > 0.6:  # fewer bald and buzz-cut women
        weights["bald"], weights["buzz"] = 0.1, 0.3
    style = _choice(g, weights, weights.values())
    if _rand(g) < 0.15:
        color = _train_color(g, "hair")
    else:
        weights_nat = [3, 4, 2, 2, 1, 1.5 if body.age > 0.75 else 0.3]
        (l0, l1), (c0, c1), (h0, h1) = _choice(g, _NATURAL_HAIR, weights_nat)
        color = lab_to_hex(lch_to_lab1(_uniform(g, l0, l1), _uniform(g, c0, c1), _uniform(g, h0, h1)))
    return Hair(style=style, color=color)


_FEMININE = ("dress", "skirt", "tutu", "blouse", "heels", "crop top")


def _kind_of(g: Rng, region: str, exclude: tuple[str, ...] = (), male: bool = False) -> str:
    """A kind of `region`; kinds mostly worn by women are drawn a third as often for male bodies."""
    kinds = [k for k in _KINDS_BY_REGION[region] if k not in exclude]
    return _choice(g, kinds, [_KIND_WEIGHT.get(k, 1.0) * (0.3 if male and k in _FEMININE else 1.0) for k in kinds])


def _garment(g: Rng, kind: str, split: str, force_band: tuple[float, float] | None = None) -> Garment:
    info = GARMENT_KINDS[kind]
    if force_band is not None:
        color = sample_color(g, force_band)
    else:
        color = _train_color(g, kind) if split == "train" else sample_color(g)
    material = info.material if _rand(g) < 0.7 else _choice(g, _MATERIALS_BY_REGION[info.region])
    if kind == "armor" and _rand(g) < 0.85:
        material = "metal"
    r = _rand(g)
    p_plain = 0.95 if info.region in ("head", "feet", "hands") else 0.78
    pattern = "plain" if r < p_plain or material == "metal" else _choice(g, PATTERNS[1:], [1.2, 1, 0.8, 0.8])
    color2 = _contrasting(g, kind, color, split) if pattern != "plain" else None
    length = sleeves = None
    if info.length is not None and _rand(g) < 0.5:
        spread = 0.3 if info.loose == "below_hips" or info.region == "bottom" else 0.15
        length = round(min(1.0, max(0.05, info.length + _uniform(g, -spread, spread))), 2)
    if info.sleeves is not None and _rand(g) < 0.5:
        sleeves = round(min(1.0, max(0.0, info.sleeves + _uniform(g, -0.3, 0.3))), 2)
    return Garment(region=info.region, kind=kind, color=color, material=material, pattern=pattern, color2=color2,
                   length=length, sleeves=sleeves)  # fmt: skip


def _outfit_kinds(g: Rng, male: bool) -> list[str]:
    """Garment kinds of one outfit, with consistent layering (module docstring)."""
    kinds = []

    def _kind(g: Rng, region: str, exclude: tuple[str, ...] = ()) -> str:
        return _kind_of(g, region, exclude, male)

    if _rand(g) < 0.3:
        full = _kind(g, "full")
        kinds.append(full)
        if full == "overalls" and _rand(g) < 0.7:
            kinds.append(_kind(g, "top", exclude=("tunic", "hoodie")))
        if full in ("dress", "jumpsuit", "uniform", "scrubs") and _rand(g) < 0.3:
            kinds.append(_kind(g, "outer", exclude=("apron",) if full == "dress" else ()))
    else:
        kinds += [_kind(g, "top"), _kind(g, "bottom")]
        if _rand(g) < 0.3:
            kinds.append(_kind(g, "outer"))
    if _rand(g) < 0.16:
        kinds.append(_kind(g, "back"))
    if _rand(g) < 0.4:
        kinds.append(_kind(g, "head"))
    if _rand(g) < 0.88:
        kinds.append(_kind(g, "feet"))
    if _rand(g) < 0.12:
        kinds.append(_kind(g, "hands"))
    return kinds


def sample_spec(g: torch.Generator, split: str = "train", body: Body | None = None) -> Spec:
    """A random spec (module docstring). split "train" never contains a held-out colour; "heldout" always does.
    body: use this body (e.g. one of a pool's) instead of drawing one."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: use one of {', '.join(SPLITS)}")
    body = sample_body(g) if body is None else body
    g = Rng(int(torch.randint(2**62, (), generator=g)))
    skin, hair = sample_skin(g), sample_hair(g, body)
    kinds = _outfit_kinds(g, body.gender < 0.5)
    forced: dict[int, tuple[float, float]] = {}
    if split == "heldout":  # one main garment gets a held-out hue, or a held-out kind x hue combination
        if _rand(g) < 0.5:
            main = [i for i, k in enumerate(kinds) if GARMENT_KINDS[k].region in ("top", "bottom", "full", "outer", "back")]
            forced[_choice(g, main)] = _choice(g, HELDOUT_HUES)
        else:
            kind = _choice(g, HELDOUT_COMBOS)
            region = GARMENT_KINDS[kind].region
            kinds = _replace_kind(kinds, kind, region)
            forced[kinds.index(kind)] = HELDOUT_COMBOS[kind]
    garments = [_garment(g, k, split, forced.get(i)) for i, k in enumerate(kinds)]
    return Spec(body=body, skin=skin, hair=hair, garments=garments).validate()


def _replace_kind(kinds: list[str], kind: str, region: str) -> list[str]:
    """The outfit with `kind` in its region, keeping the layering consistent."""
    out = [k for k in kinds if GARMENT_KINDS[k].region != region]
    if region == "full":
        out = [k for k in out if GARMENT_KINDS[k].region not in ("top", "bottom", "outer")]
    elif region in ("top", "bottom"):
        out = [k for k in out if GARMENT_KINDS[k].region != "full"]
        other = "bottom" if region == "top" else "top"
        if not any(GARMENT_KINDS[k].region == other for k in out):
            out.append("t-shirt" if other == "top" else "trousers")
    return [kind] + out


def spec_summary(spec: Spec) -> str:
    """A short line: body, hair and garments (for contact sheets)."""
    b = spec.body
    who = ("child" if b.age < 0.49 else "old " if b.age > 0.85 else "") + ("f" if b.gender > 0.5 else "m")
    hair = spec.hair.style if spec.hair else "no hair"
    parts = [f"{g.kind}{'/' + g.pattern if g.pattern != 'plain' else ''}{'/' + g.material if g.material != 'cloth' else ''}"
             for g in spec.garments]  # fmt: skip
    return f"{who} w{b.weight:.1f} {hair}: " + ", ".join(parts)


__all__ = ["HELDOUT_COMBOS", "HELDOUT_HUES", "SPLITS", "heldout_reason", "is_heldout", "sample_color", "sample_spec",
           "spec_summary"]  # fmt: skip
