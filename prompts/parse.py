"""`parse_prompt(text) -> Spec`: what a prompt asks for, as an outfit and a body (pure Python, no torch).

    >>> s = parse_prompt("a tall woman in a navy blue hoodie and black and white striped trousers")
    >>> [(g.kind, g.color_name, g.pattern, g.color2_name) for g in s.garments]
    [('hoodie', 'navy blue', 'plain', None), ('trousers', 'black', 'stripes', 'white')]

How it reads a prompt:
1. Tokens (lower case; hyphens split words, so "long-sleeved" = "long sleeved"; grey = gray) are cut into the
   longest phrases of the lexicon (`prompts.lexicon`): colour names of the XKCD and CSS4 tables, garment nouns,
   characters, body, hair and skin words, materials, patterns, lengths, sleeves. A phrase may mean several things.
2. Modifiers (colours, "dark", materials, patterns, lengths, "long-sleeved", body words ...) wait for the noun they
   qualify, which decides what they mean: a garment ("short skirt": a length; "red and gold armor": two colours, a
   colour-block pattern), hair ("short hair": a style), skin ("dark skin"), a person ("a short black man": height,
   skin), a character ("a red power ranger": its suit), an outfit noun ("a red costume") or a thing the spec has no
   place for ("a red umbrella": ignored). "and" between colours keeps them on one noun ("black and white striped
   shirt"); a colour after a garment ("a dress in dark green") or after "in" ("a man in black") binds back.
   Body, age and gender words count wherever they stand ("a man, tall and muscular").
3. Characters and professions (`lexicon/wardrobe.yaml`) give whole outfits, bodies and hair; what the prompt says
   explicitly wins: a garment it names replaces the character's garments of that region and takes their colour
   when it names none ("a firefighter in a red suit", "a chef in checked trousers").
4. The body is anny's: a person word gives an age and gender, whose average body comes from anny's calibration
   (`prompts.bodies`), and body words shift it; with no person word the body stays the default (0.5 everywhere).

`matched` lists what was used as "category:phrase"; `ignored` the content words that changed nothing. Content
words are all words but the stop words of `lexicon/words.yaml` (articles, pronouns, prepositions, auxiliaries,
conjunctions and the dressing verbs "wearing", "dressed" ...), which are neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from prompts import colors
from prompts.bodies import person_body, years_of
from prompts.errors import PromptError
from prompts.lexicon import Fragment, Lexicon, Sense, color_by_name, load_lexicon, nearest_name
from prompts.spec import GARMENT_KINDS, PHENOTYPES, REGIONS, Body, Garment, Hair, Skin, Spec

# Stop words that let pending modifiers wait for their noun ("a red and a blue ...", "his red shirt").
_TRANSPARENT = frozenset("a an the his her their its my your our this these those some one".split())
# Stop words after which a lone colour dresses the subject ("a man in black", "dressed all in red").
_DRESSING = frozenset("in wearing wears wear worn dressed clad sporting donning dons outfitted attired all".split())
_AND = frozenset(("and", "or", "plus", ","))
_NEGATION = frozenset(("no", "without"))
_PUNCT = frozenset(".;!?()")
_HEADS = ("garment", "character", "person", "hair_noun", "hair_direct", "skin_noun", "outfit", "prop")
# hair_direct is both: "a bald man" (modifier), "a red ponytail" (noun)
_MODIFIER_SET = frozenset(("color", "modifier", "intensifier", "material", "pattern", "pattern_colors", "length",
                           "sleeves", "hair_style", "hair_shade", "hair_word", "hair_direct", "skin_tone",
                           "skin_direct", "gender", "age", "body", "removal"))  # fmt: skip
_GLOBAL = ("gender", "age", "body", "hair_direct", "hair_word", "skin_direct", "removal")  # count anywhere
_YOUNG = frozenset((("young",), ("youthful",), ("younger",)))
_DEFAULT_OUTFIT = ("t-shirt", "trousers")
# a garment the prompt names replaces the character's garments of its region and of these
_ALSO_REPLACES = {"full": {"top", "bottom", "outer"}, "top": {"full"}, "bottom": {"full"}}
_STYLE_RANK = ("short", "long", "buzz", "curly", "ponytail", "bun", "braids", "afro", "bald")  # later wins
_LABELS = {"hair_noun": "hair", "hair_direct": "hair", "hair_style": "hair", "hair_shade": "hair", "hair_word": "hair",
           "skin_noun": "skin", "skin_tone": "skin", "skin_direct": "skin", "pattern_colors": "pattern"}  # fmt: skip
_YEARS_WORDS = frozenset(("year", "years", "yr", "yrs", "yo"))


@dataclass
class _Item:
    tokens: tuple[str, ...]  # as written (lower case)
    key: tuple[str, ...]  # normalised
    senses: list[Sense]
    used: str = ""  # the sense category that took effect ("" = none)

    def sense(self, cat: str) -> Optional[Sense]:
        return next((s for s in self.senses if s.cat == cat), None)

    def has(self, *cats: str) -> bool:
        return any(s.cat in cats for s in self.senses)

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def use(self, cat: str) -> None:
        self.used = self.used or cat


@dataclass
class _Colors:
    """What a group of modifiers says about colour and cloth."""

    colors: list[tuple[str, str]] = field(default_factory=list)  # (hex, name)
    bare: list[tuple[str, float]] = field(default_factory=list)  # modifiers with no colour after them
    material: Optional[tuple[str, Optional[tuple[str, Optional[str]]]]] = None
    pattern: Optional[str] = None
    pattern_colors: Optional[tuple[tuple[str, Optional[str]], tuple[str, Optional[str]]]] = None
    length: Optional[float] = None
    sleeves: Optional[float] = None

    def any(self) -> bool:
        return bool(self.colors or self.bare or self.pattern_colors) or any(
            v is not None for v in (self.material, self.pattern, self.length, self.sleeves)
        )


@dataclass
class _G:
    """A garment being built: explicit fields (None = not said) and where it came from."""

    kind: str
    template: dict[str, Any]
    colors: _Colors
    fragment: Optional[int] = None  # index of the character it belongs to
    removed: bool = False

    @property
    def region(self) -> str:
        return GARMENT_KINDS[self.kind].region


# ---- segmentation -------------------------------------------------------------------------------------------------
def _segment(text: str, lex: Lexicon) -> list[_Item]:
    toks = colors.tokenize(text)
    norm = [colors.normalize_word(t) for t in toks]
    items: list[_Item] = []
    i, n = 0, len(toks)
    while i < n:
        t = norm[i]
        if t in _PUNCT or t == ",":
            items.append(_Item((toks[i],), (t,), [Sense("punct")]))
            i += 1
            continue
        years = _years_at(norm, i)
        if years is not None:
            value, length = years
            items.append(_Item(tuple(toks[i : i + length]), tuple(norm[i : i + length]), [Sense("age", value)]))
            i += length
            continue
        for length in range(min(lex.max_len, n - i), 0, -1):
            key = tuple(norm[i : i + length])
            senses = lex.index.get(key)
            if senses:
                items.append(_Item(tuple(toks[i : i + length]), key, list(senses)))
                i += length
                break
        else:
            items.append(_Item((toks[i],), (t,), []))
            i += 1
    return items


def _years_at(norm: list[str], i: int) -> Optional[tuple[float, int]]:
    """'30 year old', '30-year-old', '30 yo', 'aged 30', 'in his 60s' -> (years, tokens used)."""
    t = norm[i]
    nxt = norm[i + 1] if i + 1 < len(norm) else ""
    if t.isdigit() and nxt in _YEARS_WORDS:
        length = 3 if i + 2 < len(norm) and norm[i + 2] == "old" else 2
        return float(t), length
    if t == "aged" and nxt.isdigit():
        return float(nxt), 2
    m = re.fullmatch(r"(\d)0s", t)
    if m and i > 0 and norm[i - 1] in ("his", "her", "their", "early", "late", "mid"):
        return float(m.group(1)) * 10 + 5, 1
    return None


# ---- the parser ---------------------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, lex: Lexicon) -> None:
        self.text, self.lex = text, lex
        self.items = _segment(text, lex)
        self.pending: list[_Item] = []
        self.last_head: tuple[str, Any] = ("", None)  # kind of the last noun ("" = none yet) and its object
        self.prep: Optional[str] = None  # the last preposition or dressing word since that noun
        self.negate = False  # "without" / "no" before a garment
        self.garments: list[_G] = []  # named by the prompt, in order
        self.fragments: list[tuple[Fragment, _Colors, _Item]] = []
        self.outfit = _Colors()  # colours of the whole outfit ("a man in black", "a red costume")
        self.removed_regions: set[str] = set()
        self.removed_kinds: set[str] = set()
        self.gender: Optional[float] = None  # said by a person or gender word
        self.age_years: Optional[float] = None  # said by an age word ("old", "30-year-old")
        self.noun_years: Optional[float] = None  # implied by a person word ("girl")
        self.alias: dict[str, float] = {}  # implied by a character's name ("goth girl")
        self.person = False
        self.young = self.little = False
        self.shifts: dict[str, float] = {}
        self.hair_styles: list[str] = []
        self.hair_color: Optional[tuple[str, Optional[str]]] = None
        self.skin: Optional[tuple[str, Optional[str]]] = None

    # -- reading, item by item
    def run(self) -> Spec:
        for idx, item in enumerate(self.items):
            if item.has("punct"):
                if item.key == (",",) and self._joins_colors(idx):
                    continue
                self._flush()
                self.prep = None
                continue
            if not item.senses:
                self._unknown(idx)
                continue
            cats = {s.cat for s in item.senses}
            head = next((c for c in _HEADS if c in cats), None)
            modifier = bool(cats & _MODIFIER_SET)
            if head is None and not modifier:
                self._stop(idx, item)
            elif head is not None and (not modifier or not self._qualifies_next(idx)):
                self._head(item, head)
            else:
                self.pending.append(item)
        self._flush()
        return self._assemble()

    def _next(self, idx: int) -> Optional[_Item]:
        return self.items[idx + 1] if idx + 1 < len(self.items) else None

    def _qualifies_next(self, idx: int) -> bool:
        """Is the next item a noun or modifier that this one, as a modifier, would qualify?"""
        nxt = self._next(idx)
        return nxt is not None and nxt.has(*_HEADS, *_MODIFIER_SET)

    def _joins_colors(self, idx: int) -> bool:
        """'and' or ',' between two colours of one noun ("black and white striped shirt")."""
        if not any(p.has("color", "modifier", "pattern_colors") for p in self.pending):
            return False
        nxt = self._next(idx)
        return nxt is not None and nxt.has("color", "modifier", "intensifier") and not nxt.has(*_HEADS)

    def _stop(self, idx: int, item: _Item) -> None:
        w = item.key[0] if len(item.key) == 1 else ""
        if w in _AND and self._joins_colors(idx):
            return
        if w in _TRANSPARENT:
            return
        self._flush()
        if w in _AND:
            return
        if w in _NEGATION:
            self.negate = True
        self.prep = w if w in _DRESSING or w in ("with", "of") else None

    def _unknown(self, idx: int) -> None:
        """A word the lexicon lacks: an adjective if a noun or modifier of ours follows ("a red fluffy jacket"),
        else a noun (or a verb: "standing"); the modifiers before it go with it."""
        for item in self.items[idx + 1 :]:
            if not item.senses:
                continue
            if item.has(*_HEADS, *_MODIFIER_SET):
                return
            break
        self._consume(self.pending, "thing")
        self.pending = []
        self.last_head = ("unknown", None)
        self.prep = None

    # -- nouns
    def _head(self, item: _Item, head: str) -> None:
        group, self.pending = self.pending, []
        value = item.sense(head).value
        if head == "garment":
            cols = self._consume(group, "garment")
            if self.negate:
                self.removed_kinds.update(t["kind"] for t in value)
                item.use("removal")
                self.last_head = ("removed", None)
            else:
                item.use("garment")
                self.garments += [_G(t["kind"], t, cols) for t in value]
                self.last_head = ("garment", self.garments[-1])
            self.negate = False
        elif head == "character":
            name, said = value
            frag = self.lex.characters[name]
            item.use("character")
            for k, v in said:
                self.alias.setdefault(k, v)
            cols = self._consume(group, "character", frag)
            self.fragments.append((frag, cols, item))
            self.last_head = ("character", cols)
        elif head == "person":
            item.use("person")
            self.person = True
            if value.get("gender") is not None:
                self.gender = float(value["gender"])
            if value.get("years") is not None and self.noun_years is None:
                self.noun_years = float(value["years"])
            self._consume(group, "person")
            for cat in ("hair_word", "skin_direct"):  # "a redhead": a person word that also says a colour
                if item.has(cat):
                    self._global(item, item.sense(cat))
            self.last_head = ("person", None)
        elif head in ("hair_noun", "hair_direct"):
            item.use(head)
            if value:
                self.hair_styles.append(value)
            self._consume(group, "hair")
            self.last_head = ("hair", None)
        elif head == "skin_noun":
            item.use("skin_noun")
            self._consume(group, "skin")
            self.last_head = ("skin", None)
        elif head == "outfit":
            cols = self._consume(group, "outfit")
            if self.last_head[0] == "character" and not group:  # "a pirate costume": the character's outfit
                item.use("outfit")
            elif cols.any():
                item.use("outfit")
                _merge(self.last_head[1] if self.last_head[0] == "character" else self.outfit, cols)
            if self.last_head[0] != "character":
                self.last_head = ("outfit", None)
        else:  # a prop: its modifiers go with it ("a red umbrella")
            self._consume(group, "thing")
            self.last_head = ("prop", None)
        self.prep = None

    def _flush(self) -> None:
        """Modifiers that met no noun bind back to the last garment ("a dress in dark green"), dress the subject
        ("a man in black"), or count only if they count anywhere (body, age, gender ...)."""
        group, self.pending = self.pending, []
        self.negate = False
        if not group:
            return
        kind, obj = self.last_head
        if kind == "garment" and self.prep in (None, "in", "with", "of"):
            _post_modify(obj.colors, self._consume(group, "garment after" if self.prep else "garment, after"))
        elif self.prep in _DRESSING and kind in ("", "person", "character", "outfit", "unknown"):
            _merge(obj if kind == "character" else self.outfit, self._consume(group, "outfit, dangling"))
        elif kind == "" and self.prep is None and any(p.has("color", "pattern_colors") for p in group):
            _merge(self.outfit, self._consume(group, "outfit, dangling"))  # a prompt that is only "red and blue"
        else:
            self._consume(group, "dangling")

    # -- modifiers
    def _consume(self, group: list[_Item], target: str, frag: Optional[Fragment] = None) -> _Colors:
        """Give each modifier of `group` the meaning `target` can use (cloth, hair, skin, person); modifiers it cannot
        use count if they count anywhere (body, age, gender ...) when the target is a person, a character or
        nothing, and are ignored before a garment or a thing ("a tall hat")."""
        out = _Colors()
        cloth = target.split(" ")[0].rstrip(",") in ("garment", "character", "outfit")
        anywhere = target in ("person", "character", "dangling", "outfit, dangling", "garment, after")
        mods: list[tuple[str, float, _Item]] = []
        strength, intens = 1.0, []
        for pos, item in enumerate(group):
            nxt = group[pos + 1] if pos + 1 < len(group) else None
            if item.has("intensifier") and not item.has("color"):
                strength *= item.sense("intensifier").value
                intens.append(item)
                continue
            if cloth:
                claimed = self._cloth(item, nxt, out, mods, strength, target, frag)
            elif target == "hair":
                claimed = self._hair(item, nxt, mods, strength)
            elif target in ("skin", "person"):
                claimed = self._skin(item, nxt, mods, strength, target)
            else:
                claimed = False
            if not claimed and anywhere:
                claimed = self._global_of(item, strength)
            if claimed and item.used in ("modifier", "body"):  # "very dark", "very tall"
                for it in intens:
                    it.use("intensifier")
            if not (item.has("modifier") and item.used == "modifier" and nxt is not None):
                strength, intens = 1.0, []
        if cloth:
            for name, st, item in mods:  # modifiers that met no colour: of the garment's own colour
                out.bare.append((name, st))
                item.use("modifier")
        return out

    def _cloth(self, item, nxt, out: _Colors, mods, strength, target, frag) -> bool:
        s = item.sense
        if frag is not None and (item.key in self.lex.character_tones or frag.recolor == "skin"):
            tone = self.lex.skin_tones.get(item.key) or (s("color").value if item.has("color") else None)
            if tone is not None:  # "a pale vampire", "a green alien"
                self.skin = self._modified(tone, item, mods)
                item.use("skin_tone")
                return True
        if item.has("modifier") and nxt is not None and nxt.has("color", "modifier", "pattern_colors"):
            mods.append((s("modifier").value, strength, item))
            item.use("modifier")
            return True
        for cat in ("pattern_colors", "material", "color", "pattern", "length", "sleeves"):
            sense = s(cat)
            if sense is None or (cat == "length" and target not in ("garment", "garment after")):
                continue
            if cat == "pattern_colors":
                out.pattern = out.pattern or sense.value[0]
                out.pattern_colors = sense.value[1:]
                item.use("pattern")
            elif cat == "material":
                out.material = sense.value
                item.use("material")
            elif cat == "color":
                out.colors.append(self._modified(sense.value, item, mods))
                item.use("color")
            else:
                setattr(out, cat, sense.value)
                item.use(cat)
            return True
        if item.has("modifier"):
            mods.append((s("modifier").value, strength, item))
            return True
        return False

    def _modified(self, color: tuple[str, Optional[str]], item: _Item, mods) -> tuple[str, str]:
        """A colour with the modifiers before it applied ("very dark" + "teal"); its name as written."""
        hexcode = color[0]
        words = []
        for name, strength, m in mods:
            hexcode = colors.modify(hexcode, name, strength)
            words.append(m.text)
        mods.clear()
        return hexcode, " ".join([*words, item.text])

    def _hair(self, item, nxt, mods, strength) -> bool:
        s = item.sense
        if item.has("modifier") and nxt is not None and nxt.has("color", "hair_shade", "hair_word"):
            mods.append((s("modifier").value, strength, item))
            item.use("modifier")
            return True
        shade = self.lex.hair_shades.get(item.key)  # natural shades first: "red hair" is auburn, not #ff0000
        if shade is None and item.has("hair_word"):
            shade = s("hair_word").value
        if shade is None and item.has("color"):
            shade = s("color").value
        if shade is not None:
            self.hair_color = self._modified(shade, item, mods)
            item.use("hair_shade")
            return True
        if item.has("hair_style") or item.has("hair_direct"):
            style = (s("hair_style") or s("hair_direct")).value
            if style:
                self.hair_styles.append(style)
            item.use("hair_style")
            return True
        return False

    def _skin(self, item, nxt, mods, strength, target) -> bool:
        s = item.sense
        if item.has("modifier") and nxt is not None and nxt.has("color", "skin_tone"):
            mods.append((s("modifier").value, strength, item))
            item.use("modifier")
            return True
        tone = self.lex.skin_tones.get(item.key)
        if tone is None and target == "skin" and item.has("color"):
            tone = s("color").value  # "green skin"
        if tone is None:
            return False
        self.skin = self._modified(tone, item, mods)
        item.use("skin_tone")
        return True

    def _global_of(self, item: _Item, strength: float) -> bool:
        sense = next((item.sense(c) for c in _GLOBAL if item.has(c)), None)
        if sense is None:
            return False
        self._global(item, sense, strength)
        return True

    def _global(self, item: _Item, sense: Sense, strength: float = 1.0) -> None:
        cat, value = sense
        if cat == "gender":
            self.gender = value
        elif cat == "age":
            if item.key in _YOUNG:
                self.young = True
            else:
                self.age_years = value
        elif cat == "body":
            if item.key == ("little",):
                self.little = True  # a younger child, or a shorter adult (see _body)
            else:
                for k, v in value.items():
                    self.shifts[k] = self.shifts.get(k, 0.0) + v * strength
        elif cat == "hair_direct":
            if value:
                self.hair_styles.append(value)
        elif cat == "hair_word":
            self.hair_color = (value[0], item.text)
        elif cat == "skin_direct":
            self.skin = (value[0], item.text)
        elif cat == "removal":
            self.removed_regions.update(value)
        item.use(cat)

    # -- the spec
    def _assemble(self) -> Spec:
        spec = Spec(body=self._body(), skin=self._skin_of(), hair=self._hair_of(), garments=self._garments(),
                    prompt=self.text)  # fmt: skip
        for item in self.items:
            if item.used:
                name = item.sense("character").value[0] if item.used == "character" else item.text
                entry = f"{_LABELS.get(item.used, item.used)}:{name}"
                if entry not in spec.matched:
                    spec.matched.append(entry)
            else:
                for tok, key in zip(item.tokens, item.key, strict=True):
                    if key not in self.lex.stop and key not in _PUNCT and key != "," and tok not in spec.ignored:
                        spec.ignored.append(tok)
        return spec.validate()

    def _garments(self) -> list[Garment]:
        built: list[_G] = []  # the characters' garments, the first character first in each region
        for fi, (frag, cols, _) in enumerate(self.fragments):
            mine = [_G(t["kind"], t, _Colors(), fragment=fi) for t in frag.garments]  # the first is its main one
            mine = [g for g in mine if not any(b.region == g.region for b in built)]
            built += mine
            if fi == 0 and self.outfit.any() and not self.garments:
                _merge(cols, self.outfit)  # "a firefighter standing in red"
            if cols.any() and mine:
                _recolor(mine, cols)
        explicit = list(self.garments)
        if self.outfit.any() and not built:
            if not explicit:  # "a man in black": a plain top and bottom of that colour ("in red and blue": one each)
                explicit = [_G(k, {"kind": k, "region": GARMENT_KINDS[k].region}, _Colors()) for k in _DEFAULT_OUTFIT]
                if len(self.outfit.colors) > 1 and not self.outfit.pattern:
                    for g, color in zip(explicit, self.outfit.colors, strict=False):
                        g.colors.colors = [color]
            for g in explicit:
                _post_modify(g.colors, self.outfit)
        for g in explicit:
            replaced = {g.region} | _ALSO_REPLACES.get(g.region, set())
            source = next((b for b in built if b.region == g.region and not b.removed), None)
            if source is not None:
                _inherit(g, source)
            for b in built:
                if b.region in replaced:
                    b.removed = True
        final = [g for g in built if not g.removed] + explicit
        final = [g for g in final if g.region not in self.removed_regions and g.kind not in self.removed_kinds]
        order = {r: i for i, r in enumerate(REGIONS)}
        final.sort(key=lambda g: order[g.region])  # stable: the prompt's order within a region
        return [self._garment(g) for g in final]

    def _garment(self, g: _G) -> Garment:
        t, c = g.template, g.colors
        info = GARMENT_KINDS[g.kind]
        material = c.material[0] if c.material is not None else t.get("material")
        if c.colors:
            hexcode, name = c.colors[0]
        elif c.pattern_colors:
            hexcode, name = c.pattern_colors[0]
        elif "color" in t:
            hexcode, name = t["color"], t.get("color_name")
        elif c.material is not None and c.material[1] is not None:
            hexcode, name = c.material[1]
        elif material in self.lex.material_colors:
            hexcode, name = self.lex.material_colors[material]
        else:
            hexcode, name = self.lex.kind_colors[g.kind]
        for mod, strength in c.bare:  # "a dark jacket", "a pale dress"
            name = f"{mod} {name or nearest_name(hexcode)}"
            hexcode = colors.modify(hexcode, mod, strength)
        pattern = c.pattern or t.get("pattern", "plain")
        color2: Optional[tuple[str, Optional[str]]] = None
        if len(c.colors) > 1:
            color2 = c.colors[1]
            pattern = "blocks" if pattern == "plain" else pattern
        elif pattern != "plain":
            if c.pattern_colors and not c.colors:
                color2 = c.pattern_colors[1]
            elif "color2" in t and not c.colors:
                color2 = (t["color2"], t.get("color2_name"))
            else:
                color2 = (colors.contrast_color(hexcode), None)
        return Garment(
            region=info.region,
            kind=g.kind,
            color=hexcode,
            color_name=name or nearest_name(hexcode),
            material=material or info.material,
            pattern=pattern,
            color2=color2[0] if color2 else None,
            color2_name=(color2[1] or nearest_name(color2[0])) if color2 else None,
            length=c.length if c.length is not None else t.get("length"),
            sleeves=c.sleeves if c.sleeves is not None else t.get("sleeves"),
        )

    def _body(self) -> Body:
        frag_body: dict[str, float] = {}
        frag_years = None
        for frag, _, _ in self.fragments:
            for k, v in frag.body.items():
                frag_body.setdefault(k, v)
            frag_years = frag.years if frag_years is None else frag_years
        gender = next((g for g in (self.gender, self.alias.get("gender"), frag_body.get("gender")) if g is not None),
                      None)  # fmt: skip
        years = next((y for y in (self.age_years, self.noun_years, self.alias.get("years"), frag_years)
                      if y is not None), None)  # fmt: skip
        shifts = dict(self.shifts)
        child = years is not None and years <= 16
        if self.young:
            years = years * 0.8 if child else min(years or 22.0, 22.0)
        if self.little:
            if child:
                years *= 0.4  # "a little girl": a young child
            else:
                shifts["height"] = shifts.get("height", 0.0) - 0.1
        if self.person or self.fragments or years is not None or gender is not None:
            values = person_body(years, gender)
        else:
            values = {n: 0.5 for n in PHENOTYPES}  # nobody named: the default body
        for k, v in frag_body.items():
            if k != "gender":
                values[k] = v
        for k, v in shifts.items():
            values[k] += v
        return Body(**{k: round(min(max(values[k], 0.0), 1.0), 3) for k in PHENOTYPES})

    def _hair_of(self) -> Hair:
        hair = Hair()
        frag = next((f for f, _, _ in self.fragments if f.hair), None)
        if frag is not None:
            hair = Hair(frag.hair.get("style", hair.style), frag.hair.get("color", hair.color),
                        frag.hair.get("color_name"))  # fmt: skip
        if self.hair_styles:
            hair.style = max(self.hair_styles, key=_STYLE_RANK.index)
        if self.hair_color is not None:
            hair.color, hair.color_name = self.hair_color
        hair.color_name = hair.color_name or nearest_name(hair.color)
        return hair

    def _skin_of(self) -> Skin:
        skin = next((f.skin for f, _, _ in self.fragments if f.skin is not None), None)
        skin = self.skin or skin or (Skin().color, None)
        return Skin(skin[0], skin[1] or nearest_name(skin[0]))


def _merge(into: _Colors, cols: _Colors) -> None:
    """Fill what `into` does not say yet from `cols`."""
    into.colors = into.colors or list(cols.colors)
    into.bare = into.bare or list(cols.bare)
    into.pattern_colors = into.pattern_colors or cols.pattern_colors
    for k in ("material", "pattern", "length", "sleeves"):
        if getattr(into, k) is None:
            setattr(into, k, getattr(cols, k))


def _recolor(garments: list[_G], cols: _Colors) -> None:
    """A colour said of a character ("a blue power ranger", "Spider-Man in black") recolours its first garment and
    every garment of the same colour; a second colour of the entry's pattern stays unless a second is given."""
    original = garments[0].template.get("color")
    for g in garments:
        if g is not garments[0] and (original is None or g.template.get("color") != original):
            continue
        c = g.colors
        _post_modify(c, cols, force=True)
        t = g.template
        if len(cols.colors) == 1 and "color2" in t and t.get("pattern", "plain") != "plain" and not cols.pattern:
            c.colors.append((t["color2"], t.get("color2_name")))


def _post_modify(target: _Colors, cols: _Colors, force: bool = False) -> None:
    """Add what `cols` says to a garment's modifiers (colours only where it has none, unless `force`)."""
    if cols.colors and (force or not target.colors):
        target.colors = list(cols.colors)
        target.pattern_colors = None
    if cols.pattern_colors and (force or not target.colors):
        target.pattern_colors = cols.pattern_colors
    if cols.bare and (force or not target.bare):
        target.bare = list(cols.bare)
    for k in ("material", "pattern", "length", "sleeves"):
        if getattr(cols, k) is not None:
            setattr(target, k, getattr(cols, k))


def _inherit(g: _G, source: _G) -> None:
    """A garment the prompt names without a colour takes the colour of the character's garment of its region; of
    the same kind ("a samurai in traditional armor", "a chef in checked trousers") also its second colour,
    pattern, material, length and sleeves."""
    c, t, st = g.colors, g.template, source.template
    same = g.kind == source.kind
    if not c.colors and not c.pattern_colors and "color" not in t:
        colors_ = list(source.colors.colors) or ([(st["color"], st.get("color_name"))] if "color" in st else [])
        if len(colors_) == 1 and "color2" in st and same and (c.pattern or st.get("pattern", "plain")) != "plain":
            colors_.append((st["color2"], st.get("color2_name")))
        c.colors = colors_ if same else colors_[:1]
        if same and c.pattern is None and "pattern" not in t:
            c.pattern = source.colors.pattern or st.get("pattern")
    if not same:
        return
    if c.material is None and "material" in st and "material" not in t:
        c.material = (st["material"], None)
    for k in ("length", "sleeves"):
        if getattr(c, k) is None and k not in t and k in st:
            setattr(c, k, st[k])


# ---- a spec in words -----------------------------------------------------------------------------------------------
_PATTERN_WORDS = {"stripes": "striped", "checks": "checked", "blocks": "colour-block", "dots": "polka dot"}
_PLURAL_KINDS = {"trousers", "jeans", "shorts", "leggings", "overalls", "scrubs", "shoes", "sneakers", "boots",
                 "sandals", "heels", "gloves", "gauntlets", "wings"}  # fmt: skip


def _color_name(color: Optional[str], name: Optional[str]) -> str:
    """A colour's name, if it still names that colour (a spec edited by hand may change the hex and not the name),
    else the nearest name of the colour table."""
    try:
        if name and color_by_name(name)[0] == color:
            return name
    except PromptError:
        pass
    return nearest_name(color)


def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def describe(spec: Spec) -> str:
    """The spec in words, as a prompt ("a tall woman with long black hair wearing a red and white striped dress
    and black boots"): the text of a spec that came without one (Stable Diffusion reads text). Body words are
    said where a value is well off the average of that age and gender (`prompts.bodies.person_body`)."""
    b = spec.body
    g = "man" if b.gender < 0.3 else "woman" if b.gender > 0.7 else "person"
    if b.values() == Body().values():
        who = "a person"
    else:
        years = years_of(b.age)
        if years < 18:
            g = {"man": "boy", "woman": "girl"}.get(g, "child")
        who = g if 25 <= years <= 40 else f"{round(years)}-year-old {g}"  # "a 6-year-old girl", "a 75-year-old man"
        avg = person_body(years, b.gender)
        words = [w for w, on in (("tall", b.height > avg["height"] + 0.08), ("short", b.height < avg["height"] - 0.08),
                                  ("fat", b.weight > avg["weight"] + 0.25), ("thin", b.weight < avg["weight"] - 0.2),
                                  ("muscular", b.muscle > avg["muscle"] + 0.25)) if on]  # fmt: skip
        who = _article(" ".join([*words, who]))
    parts = [who]
    if spec.hair is not None and (spec.hair.style, spec.hair.color) != (Hair().style, Hair().color):
        color = spec.hair.color_name or spec.hair.color
        parts.append("who is bald" if spec.hair.style == "bald" else f"with {spec.hair.style} {color} hair")
    names = []
    for x in spec.garments:
        color = _color_name(x.color, x.color_name)
        if x.pattern != "plain":
            color = f"{color} and {_color_name(x.color2, x.color2_name)} {_PATTERN_WORDS[x.pattern]}"
        material = f" {x.material}" if x.material != x.info.material else ""
        name = f"{color}{material} {x.kind}"
        names.append(name if x.kind in _PLURAL_KINDS else _article(name))
    if names:
        parts.append("wearing " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]))
    return " ".join(parts)


def parse_prompt(text: str) -> Spec:
    """The outfit-and-body spec of a prompt (see the module docstring)."""
    return _Parser(str(text), load_lexicon()).run()


def content_words(text: str) -> list[str]:
    """The prompt's content words (all but punctuation and stop words), as `ignored` and the benchmark count them."""
    stop = load_lexicon().stop
    return [t for t in colors.tokenize(text) if t not in ",;.!?()" and colors.normalize_word(t) not in stop]


__all__ = ["content_words", "describe", "parse_prompt"]
