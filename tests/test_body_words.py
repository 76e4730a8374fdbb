"""Body words measured on the posed anny body, in centimetres: the parser's values move the mesh the right way.

Also checks the calibration tables of `prompts.bodies` against anny's own files (the WHO-fitted age mapping and the
per-age means), and which end of anny's gender is male, by measuring the mesh.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
import torch

from prompts import bodies
from prompts.parse import parse_prompt


@functools.lru_cache(maxsize=None)
def measure(prompt: str) -> dict[str, float]:
    """Stature and waist width (cm) of the canonical (A-pose) anny body of a prompt's spec."""
    from dreamavatar.body.anny_body import AnnyBody

    body = AnnyBody(**dataclasses.asdict(parse_prompt(prompt).body))
    out = body.canonical()
    v, j = out.vertices[0].double(), out.joints[0].double()  # metres, y up
    foot, top = float(v[:, 1].min()), float(v[:, 1].max())
    waist_y = float(j[3, 1])  # SMPL spine1, a little above the navel
    shoulder_x = float(abs(j[16, 0] - j[17, 0])) / 2
    torso = v[((v[:, 1] - waist_y).abs() < 0.015) & (v[:, 0].abs() < shoulder_x)]  # the arms hang outside
    hip_y = float(j[1, 1])
    hips = v[((v[:, 1] - hip_y).abs() < 0.015) & (v[:, 0].abs() < shoulder_x * 1.3)]
    return {
        "stature": (top - foot) * 100,
        "waist": float(torso[:, 0].max() - torso[:, 0].min()) * 100,
        "hips": float(hips[:, 0].max() - hips[:, 0].min()) * 100,
        "shoulders": shoulder_x * 200,
    }


def test_a_tall_man_is_taller_than_a_man():
    assert measure("a tall man")["stature"] > measure("a man")["stature"] + 8
    assert measure("a short man")["stature"] < measure("a man")["stature"] - 8


def test_a_little_girl_is_shorter_than_a_woman():
    assert measure("a little girl")["stature"] < measure("a woman")["stature"] - 35
    assert 100 < measure("a little girl")["stature"] < 135  # about six years old


def test_a_fat_man_is_wider_at_the_waist_than_a_thin_man():
    assert measure("a fat man")["waist"] > measure("a thin man")["waist"] + 4


def test_people_of_every_age_have_their_height():
    assert 170 < measure("a man")["stature"] < 186
    assert 158 < measure("a woman")["stature"] < 172
    assert measure("a child")["stature"] < measure("a teenager")["stature"] < measure("an adult")["stature"] + 5


def test_gender_zero_is_male():
    # women are shorter, with narrower shoulders for their hips (anny: gender 0 = male, 1 = female)
    man, woman = measure("a man"), measure("a woman")
    assert man["stature"] > woman["stature"] + 8
    assert woman["hips"] / woman["shoulders"] > man["hips"] / man["shoulders"] + 0.05


def test_calibration_tables_are_annys():
    import anny

    root = Path(anny.__file__).parent / "data" / "shape_calibration"
    for i, sex in enumerate(("boys", "girls")):
        data = torch.load(root / f"{sex}.pth", weights_only=True)
        mapping = data["morphological_age_mapping"]
        assert mapping["morphological_age_anchors"].tolist() == pytest.approx(bodies.AGE_YEARS)
        assert mapping["anny_age_anchors"].tolist() == pytest.approx(bodies.AGE_ANNY)
        for name, (anchors, *means) in bodies.MEANS.items():
            d = data[f"conditional_{name}_distribution"]
            assert d["age_anchors"].tolist() == pytest.approx(anchors)
            mean = d["alpha_anchors"] / (d["alpha_anchors"] + d["beta_anchors"])
            assert mean.tolist() == pytest.approx(means[i], abs=6e-4), (sex, name)
    assert bodies.anny_age(8) == pytest.approx(0.3293, abs=1e-3) and bodies.years_of(bodies.anny_age(42)) == 42
