"""The parser's tables: `lexicon/words.yaml` and `lexicon/wardrobe.yaml` compiled into one phrase index.

Every phrase (a colour name, a garment noun, a character, a body word ...) becomes a key of normalised tokens
(`prompts.colors.phrase_key`) mapped to its senses; a phrase may have several ("short": a length, a hair style and a
body word; "snow white": a colour and a character) and the parser picks one by what the phrase qualifies. Loaded once
per process (about 30 ms with libyaml) and checked: an unknown kind, material, pattern, hair style or colour in the
YAML raises PromptError naming the entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Optional

from prompts import colors
from prompts.errors import PromptError
from prompts.spec import GARMENT_KINDS, HAIR_STYLES, MATERIALS, PATTERNS, PHENOTYPES, REGIONS

LEXICON_DIR = Path(__file__).parent / "lexicon"


class Sense(NamedTuple):
    """One meaning of a phrase. cat: color, modifier, intensifier, material, pattern, pattern_colors, length, sleeves,
    hair_noun, hair_style, hair_direct, hair_word, hair_shade, skin_noun, skin_tone, skin_direct, person, gender, age,
    body, character, garment, outfit, prop, removal, stop."""

    cat: str
    value: Any = None


@dataclass
class Fragment:
    """A character's contribution to a spec. garments: dicts of Garment fields (kind, region, color, ...); body:
    absolute anny values; years: age; recolor: what a bare colour before the name changes ("garment" or "skin")."""

    name: str
    garments: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, float] = field(default_factory=dict)
    years: Optional[float] = None
    hair: dict[str, Any] = field(default_factory=dict)
    skin: Optional[tuple[str, Optional[str]]] = None
    recolor: str = "garment"


@dataclass
class Lexicon:
    index: dict[tuple[str, ...], list[Sense]]
    max_len: int
    stop: frozenset[str]
    characters: dict[str, Fragment]
    kind_colors: dict[str, tuple[str, str]]
    hair_shades: dict[tuple[str, ...], tuple[str, str]]
    skin_tones: dict[tuple[str, ...], tuple[str, str]]
    material_colors: dict[str, tuple[str, Optional[str]]]  # a material's colour when nothing names one
    character_tones: frozenset[tuple[str, ...]]  # skin tones that before a character are its skin ("a pale vampire")

    def senses(self, key: tuple[str, ...]) -> list[Sense]:
        return self.index.get(key, [])


# ---- colours by name --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _extra_colors() -> dict[tuple[str, ...], tuple[str, str]]:
    words = _load("words.yaml")
    return {colors.phrase_key(k): (v.lower(), k) for k, v in (words.get("extra_colors") or {}).items()}


def color_by_name(name: str, where: str = "") -> tuple[str, Optional[str]]:
    """A colour given in the lexicon or a spec: a table name (optionally with a modifier) or '#rrggbb'.
    Returns ('#rrggbb', display name)."""
    if isinstance(name, str) and name.startswith("#"):
        try:
            colors.rgb_of(name)
            if len(name) != 7:
                raise ValueError
        except ValueError:
            raise PromptError(f"{where}: colour {name!r} is not #rrggbb") from None
        return name.lower(), None  # named on output (nearest_name)
    key = colors.phrase_key(str(name))
    extra = _extra_colors()
    if key in extra:
        return extra[key][0], str(name)
    try:
        return colors.lookup(str(name)), str(name)
    except KeyError:
        raise PromptError(f"{where}: unknown colour {name!r}: use a colour name (XKCD or CSS4) or '#rrggbb'") from None


@functools.lru_cache(maxsize=1)
def _named_labs() -> list[tuple[tuple[float, float, float], str]]:
    return [(colors.srgb_to_oklab(colors.rgb_of(h)), n) for h, n in colors.color_table().values()]


@functools.lru_cache(maxsize=4096)
def nearest_name(hexcode: str) -> str:
    """The table name nearest to a colour in OKLab (a display name for colours given as hex)."""
    lab = colors.srgb_to_oklab(colors.rgb_of(hexcode))
    return min(_named_labs(), key=lambda e: math.dist(e[0], lab))[1]


# ---- loading ----------------------------------------------------------------------------------------------------
def _cache_dir() -> Optional[Path]:
    where = os.environ.get("DREAMAVATAR_LEXICON_CACHE", "")
    if where == "off":
        return None
    return Path(where).expanduser() if where else Path.home() / ".cache" / "dreamavatar" / "lexicon"


@functools.lru_cache(maxsize=4)
def _load(name: str) -> dict[str, Any]:
    """A lexicon file's data. PyYAML builds Python objects in Python even with libyaml (about 0.2 s for
    wardrobe.yaml), so the data is also kept as JSON keyed by the file's hash (about 5 ms to read back) under
    ~/.cache/dreamavatar/lexicon (DREAMAVATAR_LEXICON_CACHE=DIR moves it, =off disables it)."""
    path = LEXICON_DIR / name
    text = path.read_bytes()
    cache = _cache_dir()
    cached = cache / f"{path.stem}-{hashlib.sha1(text).hexdigest()[:16]}.json" if cache else None
    if cached is not None and cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # rebuilt below
    import yaml

    try:
        data = yaml.load(text.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise PromptError(f"{path} is not valid YAML ({str(e).splitlines()[0]}): fix the file") from None
    if not isinstance(data, dict):
        raise PromptError(f"{path}: expected a mapping")
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(cached)  # atomic: a reader sees the old file or the whole new one
            for stale in cached.parent.glob(f"{path.stem}-*.json"):  # copies of older versions of the file
                if stale != cached:
                    stale.unlink(missing_ok=True)
        except OSError:
            pass  # a cache that cannot be written is only skipped
    return data


def _plural(word: str) -> str:
    if word.endswith(("s", "sh", "ch", "x", "z")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _garment_template(entry: Any, where: str) -> dict[str, Any]:
    """A lexicon garment (a kind name or a mapping) -> a dict of Garment fields (colour fields only if given)."""
    if isinstance(entry, str):
        entry = {"kind": entry}
    if not isinstance(entry, dict) or "kind" not in entry:
        raise PromptError(f"{where}: a garment is a kind name or a mapping with `kind`")
    unknown = set(entry) - {"kind", "color", "color2", "material", "pattern", "length", "sleeves"}
    if unknown:
        raise PromptError(f"{where}: unknown garment key(s) {', '.join(sorted(unknown))}")
    kind = entry["kind"]
    if kind not in GARMENT_KINDS:
        raise PromptError(f"{where}: unknown garment kind {kind!r}: use one of {', '.join(GARMENT_KINDS)}")
    out: dict[str, Any] = {"kind": kind, "region": GARMENT_KINDS[kind].region}
    if "material" in entry:
        if entry["material"] not in MATERIALS:
            raise PromptError(f"{where}: unknown material {entry['material']!r}")
        out["material"] = entry["material"]
    if "pattern" in entry:
        if entry["pattern"] not in PATTERNS:
            raise PromptError(f"{where}: unknown pattern {entry['pattern']!r}")
        out["pattern"] = entry["pattern"]
    for k in ("length", "sleeves"):
        if k in entry:
            out[k] = float(entry[k])
    for k in ("color", "color2"):
        if k in entry:
            out[k], out[f"{k}_name"] = color_by_name(entry[k], where)
    return out


def _fragment(name: str, entry: dict[str, Any], raw: dict[str, Any], seen: tuple[str, ...] = ()) -> Fragment:
    where = f"wardrobe.yaml characters.{name}"
    if not isinstance(entry, dict):
        raise PromptError(f"{where}: expected a mapping")
    unknown = set(entry) - {"names", "like", "years", "body", "hair", "skin", "garments", "recolor"}
    if unknown:
        raise PromptError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "like" in entry:
        base_name = entry["like"]
        if base_name not in raw or base_name in seen:
            raise PromptError(f"{where}: `like: {base_name}` names no other character")
        base = _fragment(base_name, raw[base_name], raw, (*seen, name))
        frag = Fragment(name, [dict(g) for g in base.garments], dict(base.body), base.years, dict(base.hair),
                        base.skin, base.recolor)  # fmt: skip
    else:
        frag = Fragment(name)
    if "garments" in entry:
        frag.garments = [_garment_template(g, f"{where}.garments[{i}]") for i, g in enumerate(entry["garments"])]
    for k, v in (entry.get("body") or {}).items():
        if k not in PHENOTYPES or not 0 <= float(v) <= 1:
            raise PromptError(f"{where}.body: {k}={v!r}: use {', '.join(PHENOTYPES)} with values in [0, 1]")
        frag.body[k] = float(v)
    if "years" in entry:
        frag.years = float(entry["years"])
    if "hair" in entry:
        hair = dict(entry["hair"])
        if "style" in hair and hair["style"] not in HAIR_STYLES:
            raise PromptError(f"{where}.hair.style {hair['style']!r}: use one of {', '.join(HAIR_STYLES)}")
        if "color" in hair:
            hair["color"], hair["color_name"] = _hair_color(hair["color"], where)
        frag.hair.update(hair)
    if "skin" in entry:
        skin = entry["skin"]
        frag.skin = color_by_name(skin["color"] if isinstance(skin, dict) else skin, where)
    frag.recolor = entry.get("recolor", frag.recolor)
    if frag.recolor not in ("garment", "skin"):
        raise PromptError(f"{where}.recolor: use garment or skin")
    return frag


def _hair_color(name: str, where: str) -> tuple[str, Optional[str]]:
    shades = _load("words.yaml")["hair"]["colors"]
    key = colors.phrase_key(name)
    for k, v in shades.items():
        if colors.phrase_key(k) == key:
            return v.lower(), k
    return color_by_name(name, where)


@functools.lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The compiled lexicon (cached for the process)."""
    words, wardrobe = _load("words.yaml"), _load("wardrobe.yaml")
    index: dict[tuple[str, ...], list[Sense]] = {}

    def add(phrase: str, sense: Sense, plural: bool = False) -> None:
        key = colors.phrase_key(str(phrase))
        if not key:
            return
        senses = index.setdefault(key, [])
        if sense not in senses:
            senses.append(sense)
        if plural:
            pkey = (*key[:-1], _plural(key[-1]))
            if pkey not in index:
                index[pkey] = [sense]

    # colours: the table, then the extra names
    for key, (hexcode, name) in colors.color_table().items():
        index.setdefault(key, []).append(Sense("color", (hexcode, name)))
    for key, (hexcode, name) in _extra_colors().items():
        if not any(s.cat == "color" for s in index.get(key, [])):
            index.setdefault(key, []).append(Sense("color", (hexcode, name)))
    for w, m in words["color_modifiers"].items():
        if m not in colors.MODIFIERS:
            raise PromptError(f"words.yaml color_modifiers.{w}: unknown modifier {m!r}")
        add(w, Sense("modifier", m))
    for w, f in words["intensifiers"].items():
        add(w, Sense("intensifier", float(f)))
    for w, m in words["materials"].items():
        if m["material"] not in MATERIALS:
            raise PromptError(f"words.yaml materials.{w}: unknown material {m['material']!r}")
        default = color_by_name(m["color"], f"words.yaml materials.{w}") if m.get("color") else None
        add(w, Sense("material", (m["material"], default)))
    for w, p in words["patterns"].items():
        if p not in PATTERNS:
            raise PromptError(f"words.yaml patterns.{w}: unknown pattern {p!r}")
        add(w, Sense("pattern", p))
    for w, p in words["pattern_colors"].items():
        c1, c2 = (color_by_name(c, f"words.yaml pattern_colors.{w}") for c in p["colors"])
        add(w, Sense("pattern_colors", (p["pattern"], c1, c2)))
    for w, v in words["lengths"].items():
        add(w, Sense("length", float(v)))
    for w, v in words["sleeves"].items():
        add(w, Sense("sleeves", float(v)))

    hair = words["hair"]
    for group, cat in (("nouns", "hair_noun"), ("styles", "hair_style"), ("direct", "hair_direct")):
        for w, style in hair[group].items():
            if style is not None and style not in HAIR_STYLES:
                raise PromptError(f"words.yaml hair.{group}.{w}: unknown style {style!r}")
            add(w, Sense(cat, style))
    hair_shades = {colors.phrase_key(k): (v.lower(), k) for k, v in hair["colors"].items()}
    for key, shade in hair_shades.items():
        index.setdefault(key, []).append(Sense("hair_shade", shade))
    for w, shade in hair["color_words"].items():
        shade_key = colors.phrase_key(shade or w)
        if shade_key not in hair_shades:
            raise PromptError(f"words.yaml hair.color_words.{w}: {shade or w!r} is not in hair.colors")
        add(w, Sense("hair_word", hair_shades[shade_key]))

    skin = words["skin"]
    for w in skin["nouns"]:
        add(w, Sense("skin_noun"))
    skin_tones = {colors.phrase_key(k): (v.lower(), k) for k, v in skin["tones"].items()}
    for key, tone in skin_tones.items():
        index.setdefault(key, []).append(Sense("skin_tone", tone))
    for w in skin["direct"]:
        add(w, Sense("skin_direct", skin_tones[colors.phrase_key(w)]))

    for w, p in words["people"].items():
        add(w, Sense("person", dict(p or {})))
    for w, g in words["genders"].items():
        add(w, Sense("gender", float(g)))
    for w, y in words["ages"].items():
        add(w, Sense("age", float(y)))
    for decade in range(2, 10):
        word = ("twenties", "thirties", "forties", "fifties", "sixties", "seventies", "eighties", "nineties")[decade - 2]
        add(word, Sense("age", decade * 10 + 5.0))
    for w, shifts in words["body"].items():
        bad = set(shifts or {}) - set(PHENOTYPES)
        if bad:
            raise PromptError(f"words.yaml body.{w}: unknown value(s) {', '.join(sorted(bad))}")
        add(w, Sense("body", dict(shifts or {})))
    for w in words["outfit_nouns"]:
        add(w, Sense("outfit"))
    for w in words["props"]:
        add(w, Sense("prop"), plural=True)
    for w, regions in (words.get("removals") or {}).items():
        if set(regions) - set(REGIONS):
            raise PromptError(f"words.yaml removals.{w}: unknown region(s)")
        add(w, Sense("removal", tuple(regions)))

    for phrase, entry in wardrobe["garments"].items():
        entries = entry if isinstance(entry, list) else [entry]
        templates = tuple(_garment_template(e, f"wardrobe.yaml garments.{phrase}") for e in entries)
        add(phrase, Sense("garment", templates), plural=True)
    for kind in GARMENT_KINDS:  # every canonical kind is a phrase of its own
        if not any(s.cat == "garment" for s in index.get(colors.phrase_key(kind), [])):
            add(kind, Sense("garment", (_garment_template(kind, kind),)), plural=True)

    kind_colors = {}
    for kind in GARMENT_KINDS:
        if kind not in wardrobe["kind_colors"]:
            raise PromptError(f"wardrobe.yaml kind_colors: no colour for {kind!r}")
        hexcode, name = color_by_name(wardrobe["kind_colors"][kind], f"wardrobe.yaml kind_colors.{kind}")
        kind_colors[kind] = (hexcode, name)

    raw = wardrobe["characters"]
    characters = {}
    people = {colors.phrase_key(w): dict(p or {}) for w, p in words["people"].items()}
    for name, entry in raw.items():
        frag = _fragment(name, entry, raw)
        characters[name] = frag
        for alias in (name, *(entry.get("names") or [])):
            # an alias ending in a person word says who: "goth girl", "skater boy"
            key = colors.phrase_key(str(alias))
            said = people.get(key[-1:], {}) if len(key) > 1 else {}
            add(str(alias), Sense("character", (name, tuple(sorted(said.items())))))

    stop = frozenset(colors.normalize_word(w) for w in words["stop_words"])
    for w in stop:
        index.setdefault((w,), []).append(Sense("stop"))
    material_colors: dict[str, tuple[str, Optional[str]]] = {}
    for m in words["materials"].values():
        if m.get("color") and m["material"] not in material_colors:
            material_colors[m["material"]] = color_by_name(m["color"], "words.yaml materials")
    character_tones = frozenset(colors.phrase_key(w) for w in skin["character_tones"])
    return Lexicon(index, max(len(k) for k in index), stop, characters, kind_colors, hair_shades, skin_tones,
                   material_colors, character_tones)  # fmt: skip


__all__ = ["Fragment", "LEXICON_DIR", "Lexicon", "Sense", "color_by_name", "load_lexicon", "nearest_name"]
