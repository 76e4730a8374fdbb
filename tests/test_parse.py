"""The prompt parser: colours bound to the garments they qualify, garment nouns, characters, hair, skin and body
words, against expected specs written by hand; colours against matplotlib's own public tables."""

from __future__ import annotations

import json
import math

import matplotlib.colors as mcolors
import pytest

from prompts import load_prompt_set
from prompts.colors import oklch, rgb_of
from prompts.lexicon import load_lexicon
from prompts.parse import content_words, parse_prompt
from prompts.spec import GARMENT_KINDS, Spec


def xkcd(name: str) -> str:
    """A colour of the XKCD survey, read from matplotlib's public table (the reference)."""
    return mcolors.XKCD_COLORS["xkcd:" + name.replace("gray", "grey")].lower()


def kinds(spec: Spec) -> dict[str, object]:
    return {g.kind: g for g in spec.garments}


# prompt -> the garment nouns it names (each must be matched, none ignored), and the garments expected:
# (kind, colour word or None, second colour word or None, pattern or None, material or None)
AVATARS = {
    "a man in a black business suit": (["business suit"], [("suit", "black", None, "plain", None)]),
    "a firefighter in a yellow protective suit": (["protective suit"], [("jumpsuit", "yellow", None, None, None)]),
    "an astronaut in a white space suit": (["space suit"], [("space suit", "white", None, None, None)]),
    "a soccer player in a red jersey and white shorts": (
        ["jersey", "shorts"], [("jersey", "red", None, None, None), ("shorts", "white", None, None, None)]),
    "a basketball player in a blue tank top and shorts": (
        ["tank top", "shorts"], [("tank top", "blue", None, None, None), ("shorts", None, None, None, None)]),
    "a doctor in green surgical scrubs": (["surgical scrubs"], [("scrubs", "green", None, None, None)]),
    "a police officer in a dark blue uniform": (["uniform"], [("uniform", "dark blue", None, None, None)]),
    "a chef in a white jacket and checked trousers": (
        ["jacket", "trousers"], [("jacket", "white", None, None, None), ("trousers", None, None, "checks", None)]),
    "a construction worker in an orange safety vest and jeans": (
        ["safety vest", "jeans"], [("vest", "orange", None, None, None), ("jeans", None, None, None, "denim")]),
    "a bald man in a gray tracksuit": (["tracksuit"], [("tracksuit", "gray", None, None, None)]),
    "a skier in a red ski suit": (["ski suit"], [("jumpsuit", "red", None, None, None)]),
    "Spider-Man": ([], [("bodysuit", "red", "blue", "blocks", None), ("mask", "red", None, None, None)]),
    "Iron Man in red and gold armor": (["armor"], [("armor", "red", "gold", "blocks", "metal")]),
    "a stormtrooper in white armor": (["armor"], [("armor", "white", None, None, None)]),
    "a scuba diver in a black wetsuit": (["wetsuit"], [("wetsuit", "black", None, None, "rubber")]),
    "a young man in a denim jacket and black jeans": (
        ["jacket", "jeans"], [("jacket", "denim", None, None, "denim"), ("jeans", "black", None, None, "denim")]),
    "a woman in a red evening dress": (["evening dress"], [("dress", "red", None, None, None)]),
    "a ballerina in a pink tutu": (["tutu"], [("tutu", "pink", None, None, None)]),
    "a wizard in a long blue robe and a pointed hat": (
        ["robe", "pointed hat"], [("robe", "blue", None, None, None), ("pointed hat", None, None, None, None)]),
    "a samurai in traditional armor": (["armor"], [("armor", None, None, None, "metal")]),
    "a woman with long blond hair in a summer skirt": (["summer skirt"], [("skirt", None, None, None, None)]),
    "a medieval knight with a red cape": (["cape"], [("cape", "red", None, None, None), ("armor", None, None, None, "metal")]),
    "a nurse in a white uniform dress": (["uniform dress"], [("dress", "white", None, None, None)]),
    "a cowboy in a leather vest and a wide hat": (
        ["vest", "wide hat"], [("vest", None, None, None, "leather"), ("wide hat", None, None, None, None)]),
}  # fmt: skip


def test_the_avatar_set_is_the_one_listed_here():
    assert set(load_prompt_set("avatars").texts) == set(AVATARS)


@pytest.mark.parametrize("prompt", sorted(AVATARS))
def test_avatar_prompts_colour_the_garments_they_name(prompt):
    nouns, expected = AVATARS[prompt]
    spec = parse_prompt(prompt)
    got = kinds(spec)
    for noun in nouns:
        assert f"garment:{noun}" in spec.matched, (noun, spec.matched)
        assert not set(noun.split()) & set(spec.ignored)
    for kind, color, color2, pattern, material in expected:
        assert kind in got, (kind, sorted(got))
        g = got[kind]
        if color is not None:
            assert g.color == xkcd(color) and color in g.color_name, (kind, g.color, g.color_name)
        if color2 is not None:
            assert g.color2 == xkcd(color2), (kind, g.color2)
        if pattern is not None:
            assert g.pattern == pattern
        if material is not None:
            assert g.material == material
    # every colour word of the prompt was used, and none is left over
    assert not set(spec.ignored) & {"black", "yellow", "white", "red", "blue", "green", "dark", "orange", "gray",
                                   "gold", "pink", "denim", "leather"}  # fmt: skip


def test_avatar_prompts_say_who_and_which_hair():
    man = parse_prompt("a bald man in a gray tracksuit")
    assert man.hair.style == "bald" and man.body.gender == 0.0
    woman = parse_prompt("a woman with long blond hair in a summer skirt")
    assert woman.hair.style == "long" and woman.hair.color_name == "blond" and woman.body.gender == 1.0
    assert parse_prompt("a young man in a denim jacket and black jeans").body.age < man.body.age
    fire = parse_prompt("a firefighter in a yellow protective suit")
    assert {"helmet", "boots"} <= set(kinds(fire)) and not {"coat", "trousers"} & set(kinds(fire))


def test_colour_prompts_put_top_and_bottom_colours_on_top_and_bottom():
    for p in load_prompt_set("colors"):
        spec = parse_prompt(p.text)
        top, bottom = spec.garment("top"), spec.garment("bottom")
        assert top.color == xkcd(p.top) and bottom.color == xkcd(p.bottom), p.text
        assert not spec.ignored, (p.text, spec.ignored)


def test_colour_table_holds_the_xkcd_and_css4_names():
    table = load_lexicon().index
    names = [k for k, senses in table.items() if any(s.cat == "color" for s in senses)]
    assert len(names) >= 900
    for name in ("navy blue", "forest green", "teal", "maroon", "beige", "dusty rose", "burnt orange"):
        spec = parse_prompt(f"a {name} shirt")
        assert spec.garments[0].color == xkcd(name), name
    # a CSS4 name XKCD lacks
    assert parse_prompt("a navajowhite shirt").garments[0].color == mcolors.CSS4_COLORS["navajowhite"].lower()
    assert parse_prompt("a gray shirt").garments[0].color == parse_prompt("a grey shirt").garments[0].color


def test_modifiers_move_lightness_and_chroma_in_oklab():
    def lch(prompt):
        return oklch(rgb_of(parse_prompt(prompt).garments[0].color))

    base = oklch(rgb_of(xkcd("crimson")))  # no "dark crimson" etc. in the table: computed
    dark = lch("a dark crimson shirt")
    assert dark[0] < base[0] - 0.1 and abs(dark[2] - base[2]) < 0.1
    assert lch("a very dark crimson shirt")[0] < dark[0] < lch("a slightly dark crimson shirt")[0] < base[0]
    pastel = lch("a pastel crimson shirt")
    assert pastel[0] > base[0] + 0.2 and pastel[1] < base[1] / 2
    pale = lch("a pale crimson shirt")
    assert pale[0] > base[0] + 0.1 and pale[1] < base[1]
    assert lch("a light crimson shirt")[0] > base[0] + 0.1
    assert lch("a neon crimson shirt")[1] > base[1] and lch("a bright crimson shirt")[1] > base[1]
    assert lch("a muted crimson shirt")[1] < base[1]
    assert lch("a neon orange shirt")[1] > oklch(rgb_of(xkcd("orange")))[1]
    # where the table has the phrase, the survey's colour wins over the formula
    assert parse_prompt("a dark teal shirt").garments[0].color == xkcd("dark teal")
    assert parse_prompt("a very dark crimson shirt").matched[0] == "intensifier:very"
    assert "very" in parse_prompt("a very blue shirt").ignored  # an intensifier that changed nothing


def test_oklab_matches_published_values():
    # CSS Color 4 / Ottosson: sRGB red = oklch(0.628 0.2577 29.23 deg), blue = oklch(0.452 0.313 264.05 deg)
    L, C, h = oklch((1.0, 0.0, 0.0))
    assert (round(L, 3), round(C, 3), round(math.degrees(h), 1)) == (0.628, 0.258, 29.2)
    L, C, h = oklch((0.0, 0.0, 1.0))
    assert (round(L, 3), round(C, 3), round(math.degrees(h) % 360, 1)) == (0.452, 0.313, 264.1)
    L, C, _ = oklch((1.0, 1.0, 1.0))
    assert abs(L - 1) < 1e-6 and C < 1e-6


def test_two_colour_patterns():
    g = parse_prompt("a black and white striped shirt").garments[0]
    assert (g.kind, g.pattern, g.color, g.color2) == ("shirt", "stripes", xkcd("black"), xkcd("white"))
    g = parse_prompt("a red and gold armor").garments[0]
    assert (g.pattern, g.color, g.color2) == ("blocks", xkcd("red"), xkcd("gold"))
    g = parse_prompt("a navy blue polka dot dress").garments[0]
    assert g.pattern == "dots" and g.color == xkcd("navy blue") and g.color2 is not None
    g = parse_prompt("a red and black checkered flannel shirt").garments[0]
    assert (g.pattern, g.color, g.color2) == ("checks", xkcd("red"), xkcd("black"))
    assert parse_prompt("a colour-block jacket").garments[0].pattern == "blocks"
    assert parse_prompt("a plaid skirt").garments[0].pattern == "checks"


def test_each_colour_binds_to_the_garment_it_qualifies():
    s = kinds(parse_prompt("a woman wearing a teal blouse, maroon trousers and beige sneakers"))
    assert (s["blouse"].color, s["trousers"].color, s["sneakers"].color) == (
        xkcd("teal"), xkcd("maroon"), xkcd("beige"))  # fmt: skip
    s = kinds(parse_prompt("a man with a red umbrella wearing a blue jacket"))
    assert set(s) == {"jacket"} and s["jacket"].color == xkcd("blue")
    s = parse_prompt("a woman in a dress in dark green")
    assert s.garments[0].color == xkcd("dark green")
    s = parse_prompt("a man in black")
    assert [g.color for g in s.garments] == [xkcd("black")] * 2 and {g.region for g in s.garments} == {"top", "bottom"}
    s = parse_prompt("a girl with pink hair and a yellow raincoat")
    assert s.hair.color == xkcd("pink") and s.garments[0].color == xkcd("yellow")


def test_materials_lengths_and_sleeves():
    s = kinds(parse_prompt("a leather jacket, a long skirt, a long-sleeved shirt and gold armor"))
    assert s["jacket"].material == "leather" and s["skirt"].length == 1.0 and s["shirt"].sleeves == 1.0
    assert s["armor"].material == "metal" and s["armor"].color == xkcd("gold")
    assert parse_prompt("a mini dress").garments[0].length < 0.2
    assert parse_prompt("a sleeveless dress").garments[0].sleeves == 0.0
    assert parse_prompt("a dress with long sleeves").garments[0].sleeves == 1.0
    g = parse_prompt("a denim jacket").garments[0]
    assert g.material == "denim" and g.color == xkcd("denim")
    assert parse_prompt("a blue denim jacket").garments[0].color == xkcd("blue")


def test_characters_give_outfits_and_the_prompt_wins():
    s = kinds(parse_prompt("a firefighter in a red suit"))
    assert s["suit"].color == xkcd("red") and "helmet" in s and "coat" not in s
    s = kinds(parse_prompt("a chef in checked trousers"))  # the chef's trousers lend their colours to the pattern
    assert s["trousers"].pattern == "checks" and s["trousers"].color == xkcd("black") and "chef hat" in s
    s = kinds(parse_prompt("Spider-Man in black"))
    assert s["bodysuit"].color == xkcd("black") and s["mask"].color == xkcd("black")
    s = kinds(parse_prompt("a blue power ranger"))
    assert s["bodysuit"].color == xkcd("blue") and s["gloves"].color == xkcd("white")
    assert "helmet" not in kinds(parse_prompt("a knight without a helmet"))
    assert not {"top", "full", "outer"} & {g.region for g in parse_prompt("a shirtless pirate").garments}
    assert parse_prompt("a pale vampire").skin.color_name == "pale"
    assert parse_prompt("a goth girl").body.gender == 1.0  # the name says who


def test_at_least_150_characters_and_every_kind_reachable():
    lex = load_lexicon()
    assert len(lex.characters) >= 150
    reached = {t["kind"] for senses in lex.index.values() for s in senses if s.cat == "garment" for t in s.value}
    assert reached == set(GARMENT_KINDS)
    for name in ("firefighter", "astronaut", "chef", "nurse", "doctor", "police officer", "soldier", "knight",
                 "samurai", "wizard", "pirate", "cowboy", "ninja", "clown", "ballerina", "spider-man", "batman",
                 "wonder woman", "darth vader", "harry potter"):  # fmt: skip
        assert parse_prompt(f"a {name}").matched[0] == f"character:{name}", name


def test_hair_and_skin():
    s = parse_prompt("a man with curly red hair")
    assert s.hair.style == "curly" and s.hair.color != xkcd("red")  # a natural red, not #e50000
    assert parse_prompt("a redhead").hair.color == parse_prompt("a woman with red hair").hair.color
    assert parse_prompt("a woman with a ponytail").hair.style == "ponytail"
    assert parse_prompt("a blonde woman").hair.color_name == "blonde"
    assert parse_prompt("a woman with an afro").hair.style == "afro"
    dark = parse_prompt("a dark-skinned man").skin.color
    light = parse_prompt("a pale man").skin.color
    assert oklch(rgb_of(dark))[0] < oklch(rgb_of(light))[0] - 0.2
    assert oklch(rgb_of(parse_prompt("a black woman in a white dress").skin.color))[0] < 0.5
    assert parse_prompt("a man with green skin").skin.color == xkcd("green")


def test_body_words_move_anny_values_the_right_way():
    b = {p: parse_prompt(p).body for p in ("a man", "a woman", "a tall man", "a short man", "a fat man", "a thin man",
                                             "a muscular man", "an old man", "a child", "a teenager", "a little girl",
                                             "a red shirt")}  # fmt: skip
    assert b["a man"].gender == 0.0 and b["a woman"].gender == 1.0
    assert b["a tall man"].height > b["a man"].height > b["a short man"].height
    assert b["a fat man"].weight > b["a man"].weight > b["a thin man"].weight
    assert b["a muscular man"].muscle > b["a man"].muscle
    assert b["an old man"].age > b["a man"].age > b["a teenager"].age > b["a child"].age > b["a little girl"].age
    assert b["a red shirt"].values() == (0.5,) * 6  # nobody named: the default body
    assert parse_prompt("a 70-year-old man").body.age > b["a man"].age
    assert parse_prompt("a very tall man").body.height > b["a tall man"].height
    assert parse_prompt("a man, tall and muscular").body.height == b["a tall man"].height
    assert parse_prompt("a chef with a tall white hat").body.height == parse_prompt("a chef").body.height


def test_matched_and_ignored():
    s = parse_prompt("a photo of a man in a red shirt holding a blue umbrella")
    assert s.ignored == ["photo", "holding", "blue", "umbrella"]
    assert s.matched == ["person:man", "color:red", "garment:shirt"]
    assert content_words("a photo of a man in a red shirt") == ["photo", "man", "red", "shirt"]
    assert parse_prompt("the a of in with").ignored == []  # stop words are neither


def test_spec_round_trips_through_yaml_and_json():
    s = parse_prompt("a tall woman with long black hair in a navy blue polka dot dress and red heels")
    assert Spec.from_yaml(s.to_yaml()) == s
    assert Spec.from_json(s.to_json()) == s
    assert json.loads(s.to_json())["garments"][0]["kind"] == "dress"


def test_realistic_set_has_60_prompts_unlike_the_captions():
    texts = load_prompt_set("realistic").texts
    assert len(texts) >= 60 and len(set(texts)) == len(texts)
    assert sum(t.startswith("a man wearing") or t.startswith("a woman wearing") for t in texts) < 5


def test_colour_table_is_matplotlibs():
    from prompts.colors import color_table, phrase_key

    table = color_table()
    by_key: dict = {}
    for name, h in mcolors.XKCD_COLORS.items():  # names that read the same ("robin's egg blue", "robin egg blue")
        by_key.setdefault(phrase_key(name.removeprefix("xkcd:").replace("/", " ")), set()).add(h.lower())
    assert all(table[key][0] in hexes for key, hexes in by_key.items())
    for name, h in mcolors.CSS4_COLORS.items():
        assert table[phrase_key(name)][0] in {h.lower(), *by_key.get(phrase_key(name), ())}
    assert table[("purple", "pink")][0] == mcolors.XKCD_COLORS["xkcd:purple pink"].lower()


def test_a_spec_in_words_parses_back_to_the_same_outfit():
    from prompts.parse import describe

    for p in ("a tall woman with long black hair in a red and white striped dress and black boots",
              "Iron Man in red and gold armor", "an old man in a navy blue blazer and grey trousers",
              "a little boy in a yellow raincoat"):  # fmt: skip
        spec = parse_prompt(p)
        again = parse_prompt(describe(spec))
        assert [(g.kind, g.color, g.pattern, g.color2) for g in again.garments] == [
            (g.kind, g.color, g.pattern, g.color2) for g in spec.garments], describe(spec)  # fmt: skip
        assert again.body.gender == spec.body.gender and abs(again.body.age - spec.body.age) < 0.05
    edited = parse_prompt("a woman in a yellow dress")
    edited.garments[0].color = "#15b01a"  # the name still says yellow: the words follow the colour
    assert describe(edited) == "a woman wearing a green dress"
