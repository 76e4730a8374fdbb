"""View-dependent prompts and the shipped prompt sets."""

from __future__ import annotations

import re

import pytest
import torch

from prompts import PromptError, list_prompt_sets, load_prompt_set, view_name, view_prompt, view_prompts


@pytest.mark.parametrize(
    "azimuth, view",
    [
        (0, "front"), (-45, "front"), (44.99, "front"), (315, "front"), (359.9, "front"), (720, "front"),
        (45, "side"), (90, "side"), (134.99, "side"), (-45.01, "side"), (225, "side"), (270, "side"),
        (314.99, "side"), (135, "back"), (180, "back"), (224.99, "back"), (-180, "back"), (540, "back"),
    ],
)  # fmt: skip
def test_view_switches_at_minus45_45_135_225(azimuth, view):
    assert view_name(azimuth) == view
    assert view_prompt("a chef", azimuth) == f"{view} view of a chef"


def test_view_prompts_accepts_a_tensor_of_azimuths():
    az = torch.tensor([10.0, 100.0, 200.0, 300.0])
    assert view_prompts("P", az) == ["front view of P", "side view of P", "back view of P", "side view of P"]


def test_avatar_benchmark_set():
    s = load_prompt_set("avatars")
    assert len(s) >= 24 and len(set(s.texts)) == len(s)
    iou = s.subset("iou")
    assert 8 <= len(iou) < len(s)
    loose = re.compile(r"skirt|dress|robe|cape|long .*hair|tutu|gown|cloak|hat")
    assert not [p.text for p in iou if loose.search(p.text)]
    assert [p.text for p in s if not p.iou and loose.search(p.text)]  # the loose outfits are there, outside IoU
    assert {"character", "profession", "outfit"} <= {t for p in s for t in p.tags}


def test_colour_set_names_top_and_bottom_colours_in_the_text():
    s = load_prompt_set("colors")
    assert len(s) >= 12
    named = {"black", "white", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "cyan"}
    for p in s:
        assert p.top in named and p.bottom in named and p.top != p.bottom
        top_part, bottom_part = p.text.split(" and ")
        assert p.top in top_part.split() and p.bottom in bottom_part.split(), p.text
    assert {p.top for p in s} == named  # every colour appears as a top


def test_prompt_sets_are_listed_and_loadable_from_a_file(tmp_path):
    assert {"avatars", "colors"} <= set(list_prompt_sets())
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\nprompts:\n  - a robot\n  - {text: a knight, iou: true}\n")
    s = load_prompt_set(str(f))
    assert s.name == "mine" and s.texts == ["a robot", "a knight"] and s.subset("iou").texts == ["a knight"]


def test_bad_prompt_sets_name_the_fix(tmp_path):
    with pytest.raises(PromptError, match="use one of .*avatars"):
        load_prompt_set("nope")
    f = tmp_path / "bad.yaml"
    f.write_text("prompts:\n  - {txt: oops}\n")
    with pytest.raises(PromptError, match="non-empty `text`"):
        load_prompt_set(str(f))
    f.write_text("prompts: [\n")
    with pytest.raises(PromptError, match="not valid YAML"):
        load_prompt_set(str(f))
