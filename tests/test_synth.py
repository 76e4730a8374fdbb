"""Synthetic data for the tiny prior: rasteriser, dressing regions, captions, determinism, colour read-back."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dreamavatar.body.skeleton import a_pose
from training.synth.captions import COLOR_RGB, Outfit, caption, is_held_out, sample_outfit, view_word
from priors.tiny.text import COLORS, parse_slots
from renderers.cameras import orbit_cameras, project
from renderers.raster import rasterize


# ---- rasteriser ---------------------------------------------------------------------------------------------------
def _quad(z: float, color: tuple[float, float, float], half: float = 0.5):
    v = torch.tensor([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    return v, torch.tensor([[0, 1, 2], [0, 2, 3]]), torch.tensor(color).expand(4, 3)


def test_raster_covers_the_projected_square_exactly():
    v, f, c = _quad(0.0, (1.0, 0.0, 0.0))
    cams = orbit_cameras(2.0, 90.0, 0.0, 40.0, 32)
    out = rasterize(v[None], f, c, cams, background=(0.0, 0.0, 1.0), shading=False)
    # independent reference: a pixel is covered iff its centre lies inside the square's projection
    focal = 16 / math.tan(math.radians(20))
    half_px = 0.5 / 2.0 * focal
    centres = torch.arange(32) + 0.5
    inside_1d = (centres - 16).abs() <= half_px
    expected = inside_1d[:, None] & inside_1d[None, :]
    assert torch.equal(out.mask[0], expected)
    assert torch.allclose(out.rgb[0, :, expected], torch.tensor([1.0, 0, 0])[:, None])
    assert torch.allclose(out.rgb[0, :, ~expected], torch.tensor([0, 0, 1.0])[:, None])
    assert torch.allclose(out.depth[0][expected], torch.tensor(2.0), atol=1e-4)


def test_raster_nearest_surface_wins_in_either_order():
    near, far = _quad(0.3, (0.0, 1.0, 0.0), half=0.3), _quad(-0.3, (1.0, 0.0, 0.0), half=0.8)
    cams = orbit_cameras(2.0, 90.0, 0.0, 40.0, 24)
    for a, b in ((near, far), (far, near)):
        v = torch.cat([a[0], b[0]])[None]
        f = torch.cat([a[1], b[1] + 4])
        c = torch.cat([a[2], b[2]])
        out = rasterize(v, f, c, cams, shading=False)
        assert torch.allclose(out.rgb[0, :, 12, 12], torch.tensor([0.0, 1.0, 0.0]))  # the near (green) quad
        assert torch.allclose(out.rgb[0, :, 12, 2], torch.tensor([1.0, 0.0, 0.0]))  # only the far quad there


def test_raster_interpolates_vertex_colours():
    v = torch.tensor([[-0.6, -0.5, 0.0], [0.6, -0.5, 0.0], [0.0, 0.7, 0.0]])
    c = torch.eye(3)
    cams = orbit_cameras(3.0, 90.0, 0.0, 40.0, 64)
    out = rasterize(v[None], torch.tensor([[0, 1, 2]]), c, cams, shading=False)
    uv, _ = project(v[None], cams)
    centroid = uv[0].mean(0)
    px = out.rgb[0, :, int(centroid[1]), int(centroid[0])]
    assert torch.allclose(px, torch.full((3,), 1 / 3), atol=0.06)
    assert torch.allclose(out.rgb[0].sum(0)[out.mask[0]], torch.ones(()), atol=1e-5)  # weights sum to one


# ---- captions -----------------------------------------------------------------------------------------------------
def test_caption_parses_back_to_its_attributes():
    g = torch.Generator().manual_seed(3)
    for _ in range(50):
        o = sample_outfit(g, held_out=None)
        slots = parse_slots(caption(o, "back"))
        assert slots["view"] == "back" and slots["subject"] == o.subject
        assert (slots["top_kind"], slots["top_color"]) == (o.top_kind, o.top_color)
        assert (slots["bottom_kind"], slots["bottom_color"]) == (o.bottom_kind, o.bottom_color)
        assert slots["shoes_color"] == o.shoes_color and slots["skin"] == o.skin
        assert slots["hair_kind"] == o.hair_kind
        if o.hair_kind != "bald":
            assert slots["hair_color"] == o.hair_color


def test_captions_and_outfits_are_deterministic_for_a_seed():
    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return [caption(sample_outfit(g), "front", g) for _ in range(20)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_held_out_pairs_never_sampled_for_training():
    g = torch.Generator().manual_seed(0)
    train = [sample_outfit(g) for _ in range(300)]
    assert not any(is_held_out(o.top_color, o.bottom_color) for o in train)
    held = [sample_outfit(g, held_out=True) for _ in range(30)]
    assert all(is_held_out(o.top_color, o.bottom_color) for o in held)
    assert len(COLORS) >= 12 and set(COLORS) == set(COLOR_RGB)


def test_view_words_follow_the_azimuth_rule():
    assert [view_word(a) for a in (0, 44, 45, 134, 135, 224, 225, 314, 315, -30)] == [
        "front", "front", "side", "side", "back", "back", "side", "side", "front", "front",
    ]  # fmt: skip


# ---- dressing and data --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synth(anny_body):
    from training.synth.dataset import SynthConfig, SynthGenerator

    return SynthGenerator(SynthConfig(seed=5), body=anny_body)


def _front_unshaded(synth, outfits, size=96):
    """A-pose bodies seen from the front, unshaded, at `size` px. Returns (rgb B x 3 x H x W, keypoints uv B x 18 x 2)."""
    from training.synth.dressing import vertex_colors

    n = len(outfits)
    out = synth.body(a_pose(n))
    cams = orbit_cameras(torch.full((n,), 2.6), 90.0, 0.0, 45.0, size, target=(0.0, -0.05, 0.0))
    colors = torch.stack([vertex_colors(synth.regions, o) for o in outfits])
    ras = rasterize(out.vertices, out.faces, colors, cams, shading=False)
    return ras.rgb, project(out.keypoints, cams)[0]


def _px(rgb, uv):
    return rgb[:, int(uv[1]), int(uv[0])]


def test_dressing_regions_cover_the_right_body_parts(synth):
    long_outfit = Outfit("woman", "light", "long", "black", "long-sleeved", "red", "trousers", "blue", "white")
    short_outfit = Outfit("man", "dark", "bald", "black", "tank", "green", "shorts", "yellow", "purple")
    rgb, uv = _front_unshaded(synth, [long_outfit, short_outfit])

    def col(name):
        return torch.tensor(COLOR_RGB[name])

    from training.synth.captions import SKIN_RGB

    for i, o in enumerate((long_outfit, short_outfit)):
        neck, mid_hip = uv[i, 1], (uv[i, 8] + uv[i, 11]) / 2
        chest = neck + 0.4 * (mid_hip - neck)
        assert torch.allclose(_px(rgb[i], chest), col(o.top_color), atol=0.02), "top colour at the chest"
        for knee in (uv[i, 9], uv[i, 12]):
            want = col(o.bottom_color) if o.bottom_kind == "trousers" else torch.tensor(SKIN_RGB[o.skin])
            assert torch.allclose(_px(rgb[i], knee), want, atol=0.02), "trousers cover the knees, shorts do not"
        for ankle in (uv[i, 10], uv[i, 13]):
            foot = ankle + torch.tensor([0.0, 2.0])  # just below the ankle keypoint
            assert torch.allclose(_px(rgb[i], foot), col(o.shoes_color), atol=0.05), "shoes on the feet"
        for elbow, wrist in ((uv[i, 3], uv[i, 4]), (uv[i, 6], uv[i, 7])):
            forearm = _px(rgb[i], (elbow + wrist) / 2)
            want = col(o.top_color) if o.top_kind == "long-sleeved" else torch.tensor(SKIN_RGB[o.skin])
            assert torch.allclose(forearm, want, atol=0.02), "long sleeves reach the forearm, a tank top does not"
    # top of the head: hair for long hair, skin when bald
    head_top = uv[:, 0] + (uv[:, 0] - uv[:, 1]) * 0.6
    assert torch.allclose(_px(rgb[0], head_top[0]), col("black"), atol=0.02)
    assert torch.allclose(_px(rgb[1], head_top[1]), torch.tensor(SKIN_RGB["dark"]), atol=0.02)


def test_data_chunks_are_deterministic_for_a_seed(synth):
    a = synth.chunk(3, 4)
    b = synth.chunk(3, 4)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    c = synth.chunk(4, 4)
    assert not np.array_equal(a["rgb"], c["rgb"])
    assert a["rgb"].shape == (4, 32, 32, 3) and a["rgb"].dtype == np.uint8
    assert a["cond"].shape == (4, 32, 32, 3) and a["cond"].max() > 100  # the skeleton is drawn
    for cap, view in zip(a["captions"], a["views"]):
        assert str(cap).startswith(f"{view} view of a ")


def test_colours_read_back_from_synthetic_images(synth):
    """The benchmark's colour reader, run on ground-truth synthetic images, recovers the captioned colours."""
    from training.synth.dataset import outfit_of
    from training.synth.metrics import read_outfit_colors, skeleton_coverage

    d = synth.chunk(0, 24)
    hits = total = 0
    cover = []
    bg = torch.tensor(synth.cfg.background)
    for i in range(24):
        o = outfit_of(str(d["outfits"][i]))
        img = torch.from_numpy(d["rgb"][i]).permute(2, 0, 1).float() / 255
        cond = torch.from_numpy(d["cond"][i]).permute(2, 0, 1).float() / 255
        top, bottom = read_outfit_colors(img, torch.from_numpy(d["keypoints_uv"][i]), torch.from_numpy(d["visible"][i]))
        hits += (top == o.top_color) + (bottom == o.bottom_color)
        total += 2
        cover.append(skeleton_coverage(img, cond, bg))
    assert hits / total >= 0.8
    assert np.nanmean(cover) > 0.8
