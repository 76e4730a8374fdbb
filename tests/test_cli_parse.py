"""`dreamavatar parse`: the spec on stdout (YAML, or one JSON object), unknown words on stderr, errors exit 2."""

from __future__ import annotations

import json

from dreamavatar.cli import main
from prompts.spec import Spec


def test_parse_json_is_one_object_with_the_spec_keys(capsys):
    assert main(["parse", "--json", "a firefighter in a red suit holding an axe"]) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert list(d) == ["body", "skin", "hair", "garments", "matched", "ignored"]
    assert [g["kind"] for g in d["garments"] if g["region"] == "full"] == ["suit"]
    assert d["ignored"] == ["holding", "axe"] and "holding axe" in err
    assert Spec.from_dict(d).garment("full").color_name == "red"


def test_parse_yaml_loads_back_as_the_same_spec(capsys, tmp_path):
    assert main(["parse", "a tall woman in a navy blue hoodie"]) == 0
    out, err = capsys.readouterr()
    spec = Spec.from_yaml(out)
    assert spec.garments[0].kind == "hoodie" and spec.body.gender == 1.0 and err == ""
    assert spec.prompt == "a tall woman in a navy blue hoodie"


def test_parse_refuses_an_empty_prompt(capsys):
    assert main(["parse", "  "]) == 2
    assert "prompt is empty" in capsys.readouterr().err
