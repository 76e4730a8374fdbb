"""The outfit-and-body spec: what a prompt asks for, as plain data.

Every prompt becomes a `Spec` (`prompts.parse.parse_prompt`); a user may also write or edit one as YAML/JSON and give
it to `dreamavatar generate --spec FILE`. The embedded prior is conditioned on it, every path takes the body from it,
and Stable Diffusion keeps the prompt's text.

    body      anny's six phenotype values in [0, 1] (0.5 = the average adult of the default body)
    skin      colour (`#rrggbb`) and the name it came from
    hair      style (one of HAIR_STYLES) and colour
    garments  a list of `Garment`: region (one of REGIONS), kind (one of GARMENT_KINDS), colour(s), material, pattern,
              and optional length / sleeves in [0, 1] (None: the kind's default)
    matched   the lexicon entries the parser used; ignored: the prompt's words that changed nothing

Regions: head, top (shirt-like, under `outer`), outer (jacket, coat, vest over the top), full (one piece covering torso
and legs: dress, robe, jumpsuit, suit of armour ...), bottom, feet, hands, back (cape). The vocabularies below are the
one place where they are listed; the tiny prior's embedding tables index them in this order, so only append.
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from prompts.errors import PromptError

REGIONS: tuple[str, ...] = ("head", "top", "outer", "full", "bottom", "feet", "hands", "back")
MATERIALS: tuple[str, ...] = ("cloth", "denim", "leather", "metal", "rubber", "silk", "wool", "fur", "plastic")
PATTERNS: tuple[str, ...] = ("plain", "stripes", "checks", "blocks", "dots")
HAIR_STYLES: tuple[str, ...] = ("bald", "buzz", "short", "long", "ponytail", "bun", "curly", "afro", "braids")
PHENOTYPES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")
# Where a garment leaves the body's silhouette (the free band of the silhouette terms, and the synthetic geometry):
LOOSE: tuple[str, ...] = ("below_hips", "behind_back", "above_head", "around_body")


@dataclass(frozen=True)
class KindInfo:
    """What a garment kind is: its region, default material, default length (legs / skirt / coat: 0 = at the hips,
    1 = at the ankles) and sleeves (0 = none, 1 = to the wrists), and where it leaves the body (one of LOOSE or None)."""

    region: str
    material: str = "cloth"
    length: Optional[float] = None
    sleeves: Optional[float] = None
    loose: Optional[str] = None


def _k(region: str, material: str = "cloth", length=None, sleeves=None, loose=None) -> KindInfo:
    return KindInfo(region, material, length, sleeves, loose)


# The garment kinds (canonical names; the wardrobe lexicon maps nouns and synonyms onto them). Only append.
GARMENT_KINDS: dict[str, KindInfo] = {
    # head
    "hat": _k("head", loose="above_head"),
    "wide hat": _k("head", loose="above_head"),  # cowboy, sombrero, sun hat
    "top hat": _k("head", loose="above_head"),
    "pointed hat": _k("head", loose="above_head"),  # wizard, witch
    "chef hat": _k("head", loose="above_head"),
    "cap": _k("head"),
    "beanie": _k("head", material="wool"),
    "helmet": _k("head", material="plastic", loose="above_head"),
    "hood": _k("head", loose="above_head"),
    "crown": _k("head", material="metal", loose="above_head"),
    "mask": _k("head"),  # covers the face and head (superheroes, ninja)
    # top (under an outer layer)
    "t-shirt": _k("top", sleeves=0.45),
    "shirt": _k("top", sleeves=1.0),
    "blouse": _k("top", material="silk", sleeves=0.9),
    "sweater": _k("top", material="wool", sleeves=1.0),
    "hoodie": _k("top", sleeves=1.0),
    "tank top": _k("top", sleeves=0.0),
    "jersey": _k("top", sleeves=0.45),
    "polo shirt": _k("top", sleeves=0.4),
    "crop top": _k("top", sleeves=0.0),
    "turtleneck": _k("top", material="wool", sleeves=1.0),
    "tunic": _k("top", sleeves=0.6, length=0.25, loose="below_hips"),
    # outer
    "jacket": _k("outer", sleeves=1.0),
    "blazer": _k("outer", sleeves=1.0),
    "coat": _k("outer", material="wool", sleeves=1.0, length=0.55, loose="below_hips"),
    "vest": _k("outer", sleeves=0.0),
    "cardigan": _k("outer", material="wool", sleeves=1.0),
    "apron": _k("outer", length=0.5),
    # full (one piece over torso and legs)
    "dress": _k("full", sleeves=0.3, length=0.5, loose="below_hips"),
    "robe": _k("full", sleeves=1.0, length=1.0, loose="below_hips"),
    "jumpsuit": _k("full", sleeves=1.0, length=1.0),
    "overalls": _k("full", material="denim", sleeves=0.0, length=1.0),
    "suit": _k("full", sleeves=1.0, length=1.0),  # jacket and trousers of one colour
    "space suit": _k("full", material="plastic", sleeves=1.0, length=1.0, loose="around_body"),
    "wetsuit": _k("full", material="rubber", sleeves=1.0, length=1.0),
    "bodysuit": _k("full", sleeves=1.0, length=1.0),  # superhero tights
    "armor": _k("full", material="metal", sleeves=1.0, length=1.0, loose="around_body"),
    "tracksuit": _k("full", sleeves=1.0, length=1.0),
    "uniform": _k("full", sleeves=1.0, length=1.0),
    "kimono": _k("full", material="silk", sleeves=1.0, length=0.9, loose="below_hips"),
    "scrubs": _k("full", sleeves=0.4, length=1.0),
    # bottom
    "trousers": _k("bottom", length=0.95),
    "jeans": _k("bottom", material="denim", length=0.95),
    "shorts": _k("bottom", length=0.3),
    "skirt": _k("bottom", length=0.45, loose="below_hips"),
    "leggings": _k("bottom", length=1.0),
    "tutu": _k("bottom", length=0.2, loose="below_hips"),
    "kilt": _k("bottom", material="wool", length=0.4, loose="below_hips"),
    # feet
    "shoes": _k("feet", material="leather"),
    "sneakers": _k("feet"),
    "boots": _k("feet", material="leather"),
    "sandals": _k("feet", material="leather"),
    "heels": _k("feet", material="leather"),
    # hands
    "gloves": _k("hands", material="leather"),
    "gauntlets": _k("hands", material="metal"),
    # back
    "cape": _k("back", length=0.8, loose="behind_back"),
    "cloak": _k("back", material="wool", length=1.0, loose="behind_back"),
    "wings": _k("back", loose="behind_back"),
}

_HEX = re.compile(r"^#[0-9a-f]{6}$")
def hex_to_rgb(color: str) -> tuple[float, float, float]:
    """'#rrggbb' -> (r, g, b) in [0, 1] (sRGB, as written)."""
    if not isinstance(color, str) or not _HEX.match(color.lower()):
        raise PromptError(f"colour {color!r} is not #rrggbb: write it as e.g. '#1f77b4'")
    c = color.lower()
    return tuple(int(c[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def rgb_to_hex(rgb) -> str:
    """(r, g, b) in [0, 1] -> '#rrggbb'."""
    return "#" + "".join(f"{max(0, min(255, round(float(v) * 255))):02x}" for v in rgb)


@dataclass
class Body:
    """anny's phenotype values in [0, 1]; 0.5 everywhere is the default body (1.63 m). gender: 0 = male, 1 = female
    (the order of anny's PHENOTYPE_VARIATIONS; tests/test_body_words.py measures it on the mesh). age: anny's own
    scale, which its WHO calibration maps to years (`prompts.bodies`): 0.215 = 4, 0.33 = a child of 8, 0.415 = 11,
    0.62 = a teenager of 15, 0.77 = 18, 0.79 = an adult of 30, 0.83 = 64, 0.87 = an old person of 75, 1 = 110; 0.5 is
    about 13 by that scale (the default body is not calibrated: it is anny's middle value of each parameter)."""

    gender: float = 0.5
    age: float = 0.5
    muscle: float = 0.5
    weight: float = 0.5
    height: float = 0.5
    proportions: float = 0.5

    def values(self) -> tuple[float, ...]:
        return tuple(float(getattr(self, n)) for n in PHENOTYPES)


@dataclass
class Skin:
    color: str = "#e0b899"
    color_name: Optional[str] = None


@dataclass
class Hair:
    style: str = "short"
    color: str = "#3b2a1d"
    color_name: Optional[str] = None


@dataclass
class Garment:
    """One garment. color2 is the second colour of a two-colour pattern (stripes, checks, blocks, dots)."""

    region: str
    kind: str
    color: str
    color_name: Optional[str] = None
    material: str = "cloth"
    pattern: str = "plain"
    color2: Optional[str] = None
    color2_name: Optional[str] = None
    length: Optional[float] = None
    sleeves: Optional[float] = None

    @property
    def info(self) -> KindInfo:
        return GARMENT_KINDS[self.kind]

    def resolved_length(self) -> Optional[float]:
        return self.length if self.length is not None else self.info.length

    def resolved_sleeves(self) -> Optional[float]:
        return self.sleeves if self.sleeves is not None else self.info.sleeves


@dataclass
class Spec:
    """The outfit and body a prompt describes (see the module docstring). `prompt` is the text it was parsed from
    (empty for a hand-written spec)."""

    body: Body = field(default_factory=Body)
    skin: Skin = field(default_factory=Skin)
    hair: Optional[Hair] = field(default_factory=Hair)
    garments: list[Garment] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    prompt: str = ""

    # ---- checks ---------------------------------------------------------------------------------------------------
    def validate(self) -> "Spec":
        """Raise PromptError naming the first bad value and its fix; returns self."""
        for n in PHENOTYPES:
            v = getattr(self.body, n)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise PromptError(f"body.{n} = {v!r}: give a number in [0, 1] (0.5 is the average adult)")
        hex_to_rgb(self.skin.color)
        if self.hair is not None:
            if self.hair.style not in HAIR_STYLES:
                raise PromptError(f"hair.style {self.hair.style!r}: use one of {', '.join(HAIR_STYLES)}")
            hex_to_rgb(self.hair.color)
        for i, g in enumerate(self.garments):
            where = f"garments[{i}]"
            if g.kind not in GARMENT_KINDS:
                raise PromptError(f"{where}.kind {g.kind!r} is not a known garment kind: use one of "
                                  f"{', '.join(GARMENT_KINDS)}")  # fmt: skip
            if g.region != GARMENT_KINDS[g.kind].region:
                raise PromptError(f"{where}: a {g.kind} belongs in region {GARMENT_KINDS[g.kind].region!r}, "
                                  f"not {g.region!r}")  # fmt: skip
            if g.material not in MATERIALS:
                raise PromptError(f"{where}.material {g.material!r}: use one of {', '.join(MATERIALS)}")
            if g.pattern not in PATTERNS:
                raise PromptError(f"{where}.pattern {g.pattern!r}: use one of {', '.join(PATTERNS)}")
            hex_to_rgb(g.color)
            if g.pattern != "plain" and g.color2 is None:
                raise PromptError(f"{where}: a {g.pattern} pattern needs color2 (its second colour)")
            if g.color2 is not None:
                hex_to_rgb(g.color2)
            for name in ("length", "sleeves"):
                v = getattr(g, name)
                if v is not None and (not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0):
                    raise PromptError(f"{where}.{name} = {v!r}: give a number in [0, 1], or leave it out")
        return self

    def garment(self, region: str) -> Optional[Garment]:
        """The first garment in `region`, or None."""
        return next((g for g in self.garments if g.region == region), None)

    # ---- serialisation --------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_yaml(self, compact: bool = False) -> str:
        """YAML of the spec. compact: the prompt first, one line per part and per garment, unset values left out (what
        `dreamavatar parse` prints for a person to read and edit)."""
        import yaml

        d = self.to_dict()
        if not compact:
            return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)
        d = {"prompt": d.pop("prompt"), **d}
        d["garments"] = [{k: v for k, v in g.items() if v is not None} for g in d["garments"]]
        return yaml.safe_dump(d, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1 << 16)

    def key(self) -> str:
        """A stable text key of what conditions the prior (body, skin, hair, garments; not matched/ignored/prompt)."""
        d = self.to_dict()
        return json.dumps({k: d[k] for k in ("body", "skin", "hair", "garments")}, sort_keys=True)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Spec":
        """Build and validate a spec from plain data (missing parts take their defaults; unknown keys are refused)."""
        if not isinstance(d, dict):
            raise PromptError("a spec is a mapping with body, skin, hair and garments: see `dreamavatar parse --help`")

        def build(cls, data, where):
            if data is None:
                return None
            if not isinstance(data, dict):
                raise PromptError(f"{where} must be a mapping")
            names = {f.name for f in fields(cls)}
            unknown = sorted(set(data) - names)
            if unknown:
                raise PromptError(f"{where}: unknown key(s) {', '.join(unknown)}: use {', '.join(sorted(names))}")
            missing = [f.name for f in fields(cls) if f.name not in data and f.default is MISSING
                       and f.default_factory is MISSING]  # fmt: skip
            if missing:
                raise PromptError(f"{where} needs {', '.join(missing)}: write it as `dreamavatar parse` does")
            try:
                return cls(**data)
            except TypeError as e:
                raise PromptError(f"{where}: {e}") from None

        top = {f.name for f in fields(Spec)}
        unknown = sorted(set(d) - top)
        if unknown:
            raise PromptError(f"spec: unknown key(s) {', '.join(unknown)}: use {', '.join(sorted(top))}")
        garments = d.get("garments") or []
        if not isinstance(garments, list):
            raise PromptError("spec.garments must be a list of garments")
        spec = Spec(
            body=build(Body, d.get("body") or {}, "body"),
            skin=build(Skin, d.get("skin") or {}, "skin"),
            hair=build(Hair, d["hair"], "hair") if "hair" in d else Hair(),
            garments=[build(Garment, g, f"garments[{i}]") for i, g in enumerate(garments)],
            matched=list(d.get("matched") or []),
            ignored=list(d.get("ignored") or []),
            prompt=str(d.get("prompt") or ""),
        )
        for g in spec.garments:  # colours are stored lower-case
            g.color = g.color.lower() if isinstance(g.color, str) else g.color
            g.color2 = g.color2.lower() if isinstance(g.color2, str) else g.color2
        return spec.validate()

    @staticmethod
    def from_file(path: str | Path) -> "Spec":
        """A spec written by `dreamavatar parse` (YAML, or JSON for a .json file), perhaps edited. An empty file, or
        one that says nothing of body, skin, hair or garments, is refused with a message naming the fix."""
        path = Path(path)
        if not path.is_file():
            raise PromptError(f"spec file {path} does not exist: write one with dreamavatar parse \"PROMPT\" > {path}")
        fix = f'write one with dreamavatar parse "PROMPT" > {path.name} and edit it'
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise PromptError(f"spec file {path} is not UTF-8 text (YAML or JSON): {fix}") from None
        if not text.strip():
            raise PromptError(f"spec file {path} is empty: {fix}")
        spec = Spec.from_json(text) if path.suffix.lower() == ".json" else Spec.from_yaml(text)
        import yaml

        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        if not {"body", "skin", "hair", "garments"} & set(data):
            raise PromptError(f"spec file {path} says nothing of body, skin, hair or garments: {fix}")
        return spec

    @staticmethod
    def from_json(text: str) -> "Spec":
        try:
            return Spec.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise PromptError(f"spec is not valid JSON ({e}): fix the file") from None

    @staticmethod
    def from_yaml(text: str) -> "Spec":
        import yaml

        try:
            return Spec.from_dict(yaml.safe_load(text))
        except yaml.YAMLError as e:
            raise PromptError(f"spec is not valid YAML ({str(e).splitlines()[0]}): fix the file") from None


__all__ = [
    "Body", "GARMENT_KINDS", "Garment", "HAIR_STYLES", "Hair", "KindInfo", "LOOSE", "MATERIALS", "PATTERNS",
    "PHENOTYPES", "REGIONS", "Skin", "Spec", "hex_to_rgb", "rgb_to_hex",
]  # fmt: skip
