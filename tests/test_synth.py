"""The synthetic wardrobe (training.synth): rasteriser, colours, specs and the held-out split, bodies, garments where
the spec puts them, materials, patterns, determinism, and the readers on ground-truth renders."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from prompts.spec import GARMENT_KINDS, HAIR_STYLES, MATERIALS, PATTERNS, Body, Garment, Hair, Skin, Spec
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
    assert torch.equal(out.face[0] >= 0, expected) and set(out.face[0][expected].tolist()) == {0, 1}


def test_raster_nearest_surface_wins_in_either_order():
    near, far = _quad(0.3, (0.0, 1.0, 0.0), half=0.3), _quad(-0.3, (1.0, 0.0, 0.0), half=0.8)
    cams = orbit_cameras(2.0, 90.0, 0.0, 40.0, 24)
    for order, (a, b) in enumerate(((near, far), (far, near))):
        v = torch.cat([a[0], b[0]])[None]
        f = torch.cat([a[1], b[1] + 4])
        c = torch.cat([a[2], b[2]])
        out = rasterize(v, f, c, cams, shading=False)
        assert torch.allclose(out.rgb[0, :, 12, 12], torch.tensor([0.0, 1.0, 0.0]))  # the near (green) quad
        assert torch.allclose(out.rgb[0, :, 12, 2], torch.tensor([1.0, 0.0, 0.0]))  # only the far quad there
        assert int(out.face[0, 12, 12]) // 2 == order  # the near quad's triangles are 0-1 first, then 2-3


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


# ---- colours ------------------------------------------------------------------------------------------------------
def test_cielab_matches_published_values_and_both_implementations_agree():
    from training.synth.color import _max_chroma_exact, lab_to_rgb, lab_to_rgb1, max_chroma, rgb_to_lab, rgb_to_lab1

    # reference CIELAB (D65) of sRGB primaries and white, as tabulated (e.g. Bruce Lindbloom's calculator)
    ref = {(1, 0, 0): (53.24, 80.09, 67.20), (0, 1, 0): (87.73, -86.18, 83.18), (0, 0, 1): (32.30, 79.19, -107.86),
           (1, 1, 1): (100.0, 0.0, 0.0)}  # fmt: skip
    for rgb, lab in ref.items():
        assert np.allclose(rgb_to_lab(np.array(rgb, float)), lab, atol=0.05)
        assert np.allclose(rgb_to_lab1(rgb), lab, atol=0.05)
    rgb = np.random.default_rng(0).random((50, 3))
    lab = rgb_to_lab(rgb)
    assert np.allclose([rgb_to_lab1(tuple(x)) for x in rgb], lab, atol=1e-9)
    assert np.allclose(lab_to_rgb(lab), rgb, atol=1e-9)
    assert np.allclose([lab_to_rgb1(tuple(x)) for x in lab], rgb, atol=1e-9)
    for L, h in ((50, 30), (80, 100), (20, 280)):  # the gamut boundary: in at max chroma, out just past it
        c = float(_max_chroma_exact(np.array(float(L)), np.array(float(h))))
        assert c - 4 < max_chroma(L, h) <= c + 0.05  # the sampler's table
        inside = lab_to_rgb1((L, c * math.cos(math.radians(h)), c * math.sin(math.radians(h))), clip=False)
        outside = lab_to_rgb1((L, (c + 1) * math.cos(math.radians(h)), (c + 1) * math.sin(math.radians(h))), clip=False)
        assert all(-1e-6 <= x <= 1 + 1e-6 for x in inside) and not all(0 <= x <= 1 for x in outside)


# ---- specs --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_specs():
    from training.synth.specs import sample_spec

    g = torch.Generator().manual_seed(0)
    return [sample_spec(g, "train") for _ in range(1500)]


def _lch(colors: list[str]) -> np.ndarray:
    """L, C, h of hex colours through the numpy (image) conversion, not the sampler's scalar one."""
    from prompts.spec import hex_to_rgb
    from training.synth.color import lab_to_lch, rgb_to_lab

    return lab_to_lch(rgb_to_lab(np.array([hex_to_rgb(c) for c in colors])))


def test_specs_are_valid_and_cover_every_vocabulary(train_specs):
    for s in train_specs[:200]:
        assert Spec.from_json(s.to_json()).to_dict() == s.to_dict()  # valid and serialisable
    garments = [gm for s in train_specs for gm in s.garments]
    assert {gm.kind for gm in garments} == set(GARMENT_KINDS)
    assert {gm.material for gm in garments} == set(MATERIALS)
    assert {gm.pattern for gm in garments} == set(PATTERNS)
    assert {s.hair.style for s in train_specs} == set(HAIR_STYLES)
    for s in train_specs:  # layering: a full piece replaces top and bottom (overalls may have a top under them)
        regions = [gm.region for gm in s.garments]
        assert len(regions) == len(set(regions))
        full = s.garment("full")
        if full is not None:
            assert "bottom" not in regions and ("top" not in regions or full.kind == "overalls")
        else:
            assert "top" in regions and "bottom" in regions
    for gm in garments:
        if gm.pattern != "plain":
            assert gm.color2 is not None and np.linalg.norm(np.diff(_lab([gm.color, gm.color2]), axis=0)) >= 29.9
    bodies = np.array([s.body.values() for s in train_specs])
    assert bodies.min(0).max() < 0.3 and bodies.max(0).min() > 0.75  # every phenotype value spans its range
    assert 0.12 < (bodies[:, 1] < 0.49).mean() < 0.3  # about one in five is a child


def _lab(colors):
    from prompts.spec import hex_to_rgb
    from training.synth.color import rgb_to_lab

    return rgb_to_lab(np.array([hex_to_rgb(c) for c in colors]))


def test_colours_cover_the_whole_space(train_specs):
    lch = _lch([gm.color for s in train_specs for gm in s.garments])
    L, C, h = lch.T
    assert (L < 25).mean() > 0.1 and (L > 80).mean() > 0.1  # dark and light
    from training.synth.color import max_chroma

    edge = np.array([c >= 0.75 * max_chroma(l_, h_) for l_, c, h_ in lch[:1000]])
    assert edge.mean() > 0.3 and (C > 60).mean() > 0.06 and (C < 6).mean() > 0.08  # saturated and near-neutral
    hist = np.histogram(h[C > 12], bins=12, range=(0, 360))[0] / (C > 12).sum()
    assert hist.min() > 0.02, hist  # every 30-degree hue sector (held-out bands take 20 degrees of two of them)
    assert len(set(np.round(lch[:, 2]))) > 300  # continuous, not a palette


def test_heldout_split_is_never_drawn_for_training(train_specs):
    from training.synth.specs import HELDOUT_COMBOS, HELDOUT_HUES, heldout_reason, sample_spec

    def banned(kind, color):
        L, C, h = _lch([color])[0]
        if C < 12:
            return False
        bands = list(HELDOUT_HUES) + ([HELDOUT_COMBOS[kind]] if kind in HELDOUT_COMBOS else [])
        return any((lo <= h < hi) if lo < hi else (h >= lo or h < hi) for lo, hi in bands)

    for s in train_specs:
        for gm in s.garments:
            assert not banned(gm.kind, gm.color) and not (gm.color2 and banned(gm.kind, gm.color2))
    g = torch.Generator().manual_seed(1)
    held = [sample_spec(g, "heldout") for _ in range(150)]
    reasons = set()
    for s in held:
        r = [heldout_reason(gm.kind, c) for gm in s.garments for c in (gm.color, gm.color2) if c]
        assert any(r) and any(banned(gm.kind, gm.color) or (gm.color2 and banned(gm.kind, gm.color2)) for gm in s.garments)
        reasons |= set(r)
    assert {"hue", "combo"} <= reasons


# ---- bodies -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gen():
    from training.synth.dataset import SynthConfig, SynthGenerator

    return SynthGenerator(SynthConfig(seed=5, pool_size=8))


def test_pool_bodies_are_realistic_and_the_stature_model_holds(gen):
    from training.synth.bodies import stature

    for i in range(len(gen.pool)):
        pb = gen.pool.get(i)
        y = pb.canonical_vertices[:, 1]
        measured = float(y.max() - y.min())
        b = pb.body
        assert abs(stature(b.gender, b.age, b.height) - measured) < 0.05  # the sampler's model, against the mesh
        lo, hi = (1.05, 1.62) if b.age < 0.49 else (1.49, 1.97)
        assert lo < measured < hi, (b, measured)


# ---- garments where the spec says -------------------------------------------------------------------------------
def _spec(*garments: Garment, hair: str = "short") -> Spec:
    return Spec(body=Body(), skin=Skin("#d0a080"), hair=Hair(hair, "#202020"), garments=list(garments)).validate()


def _g(kind: str, color: str, **kw) -> Garment:
    return Garment(region=GARMENT_KINDS[kind].region, kind=kind, color=color, **kw)


def _draw(gen, specs, azimuth=0.0, pose=None, size=64):
    """Render specs on pool body 0 (a fixed pose, level camera) at `size` px; returns the render dict."""
    from dreamavatar.body.skeleton import a_pose

    n = len(specs)
    gen.cfg.size = size
    try:
        poses = (a_pose(n) if pose is None else pose.expand(n, 24, 3)).clone()
        cams = orbit_cameras(torch.full((n,), 2.6), 90.0, azimuth, 45.0, size, target=(0.0, gen.center_y(0), 0.0))
        return gen.render([0] * n, specs, poses, cams, [random.Random(0) for _ in range(n)])
    finally:
        gen.cfg.size = 32


def _legs_apart() -> torch.Tensor:
    from dreamavatar.body.skeleton import JOINT_INDEX, a_pose

    p = a_pose(1)
    p[0, JOINT_INDEX["left_hip"], 2] = 0.35
    p[0, JOINT_INDEX["right_hip"], 2] = -0.35
    return p


def _label(name: str) -> int:
    from training.synth.garments import LABELS

    return LABELS.index(name)


def test_skirt_fills_between_the_knees_and_trousers_do_not(gen):
    out = _draw(gen, [_spec(_g("t-shirt", "#ffffff"), _g("skirt", "#c02020", length=0.6)),
                      _spec(_g("t-shirt", "#ffffff"), _g("trousers", "#c02020"))], pose=_legs_apart())  # fmt: skip
    for i, want in ((0, _label("bottom")), (1, _label("background"))):
        kp = out["keypoints_uv"][i]
        mid = (kp[9] + kp[12]) / 2  # between the knees
        assert int(out["labels"][i, int(mid[1]), int(mid[0])]) == want
        assert (out["labels"][i] == _label("bottom")).sum() > 80  # the garment is there at all


def test_cape_is_seen_from_behind_not_from_the_front(gen):
    spec = _spec(_g("t-shirt", "#ffffff"), _g("trousers", "#202080"), _g("cape", "#c02020", length=0.8))
    front, back = _draw(gen, [spec], 0.0), _draw(gen, [spec], 180.0)
    n_front, n_back = ((x["labels"][0] == _label("back")).sum().item() for x in (front, back))
    assert n_back > 150 and n_front < 0.5 * n_back  # from the front only its sides show
    kp = back["keypoints_uv"][0]
    chest = kp[1] + 0.4 * ((kp[8] + kp[11]) / 2 - kp[1])
    assert int(back["labels"][0, int(chest[1]), int(chest[0])]) == _label("back")
    assert int(front["labels"][0, int(chest[1]), int(chest[0])]) == _label("top")


def test_hats_rise_above_the_head_and_layers_stack(gen):
    plain = _spec(_g("shirt", "#ffffff"), _g("trousers", "#202080"))
    hats = [_spec(_g("shirt", "#ffffff"), _g("trousers", "#202080"), _g(k, "#c02020")) for k in
            ("top hat", "pointed hat", "chef hat", "wide hat", "hat", "helmet", "crown", "hood")]  # fmt: skip
    layered = _spec(_g("shirt", "#ffffff"), _g("trousers", "#202080"), _g("jacket", "#20a020"))
    out = _draw(gen, [plain, layered] + hats)

    def top_row(lab):
        return int(torch.nonzero((lab > 0).any(1))[0])

    head_top = top_row(out["labels"][0])
    for i in range(2, len(hats) + 2):
        lab = out["labels"][i]
        assert top_row(lab) < head_top, hats[i - 2].garments[-1].kind  # reaches above the bare head
        assert (lab[: head_top + 2] == _label("head")).sum() >= 3
    kp = out["keypoints_uv"][1]
    chest = kp[1] + 0.45 * ((kp[8] + kp[11]) / 2 - kp[1])
    assert int(out["labels"][1, int(chest[1]), int(chest[0])]) == _label("outer")  # the jacket over the shirt
    assert int(out["labels"][0, int(chest[1]), int(chest[0])]) == _label("top")
    neck_v = kp[1] + 0.12 * ((kp[8] + kp[11]) / 2 - kp[1])  # the jacket's V shows the shirt
    assert (out["labels"][1][int(neck_v[1]) - 1 : int(neck_v[1]) + 2, int(neck_v[0]) - 1 : int(neck_v[0]) + 2] == _label("top")).any()
    dress = _draw(gen, [_spec(_g("dress", "#c02020", length=0.7))])["labels"][0]
    assert (dress == _label("full")).sum() > 150 and not (dress == _label("bottom")).any()


def test_metal_has_a_highlight_cloth_does_not_and_patterns_show_two_colours(gen):
    grey = "#808080"
    specs = [_spec(_g("bodysuit", grey, material=m)) for m in ("metal", "cloth", "leather")]
    specs.append(_spec(_g("t-shirt", "#f0f0f0", pattern="stripes", color2="#1010a0"), _g("trousers", "#202020")))
    out = _draw(gen, specs)
    albedo = 128 / 255
    peaks = []
    for i in range(3):
        inside = (out["labels"][i] == _label("full")).float()[None, None]
        inside = -torch.nn.functional.max_pool2d(-inside, 3, 1, 1)[0, 0] > 0  # away from other garments' edges
        lum = out["rgb"][i].mean(0)[inside]
        peaks.append(float(lum.max()))
    assert peaks[0] > albedo + 0.15  # a specular highlight brighter than the albedo
    assert peaks[1] <= albedo + 0.01  # cloth is at most its albedo under the headlight
    assert peaks[2] > peaks[1] + 0.05
    top = out["labels"][3] == _label("top")
    px = out["rgb"][3].permute(1, 2, 0)[top]
    light, blue = (px.mean(1) > 0.6).float().mean(), ((px[:, 2] - px[:, 0]) > 0.25).float().mean()
    assert light > 0.15 and blue > 0.15, (light, blue)


# ---- chunks -------------------------------------------------------------------------------------------------------
def test_chunks_are_a_pure_function_of_seed_and_index(gen):
    from training.synth.dataset import SynthConfig, SynthGenerator

    a = gen.chunk(3, 4)
    b = SynthGenerator(SynthConfig(seed=5, pool_size=8)).chunk(3, 4)  # a fresh generator: same chunk
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    c = gen.chunk(4, 4)
    assert not np.array_equal(a["rgb"], c["rgb"])
    assert a["rgb"].shape == (4, 32, 32, 3) and a["rgb"].dtype == np.uint8
    assert a["cond"].shape == (4, 32, 32, 3) and a["cond"].max() > 100
    assert a["labels"].shape == (4, 32, 32) and a["labels"].max() < 11
    assert a["keypoints_uv"].shape == (4, 18, 2) and a["visible"].shape == (4, 18)
    from prompts import view_name

    for s, v, az in zip(a["specs"], a["views"], a["azimuth"]):
        Spec.from_json(str(s))
        assert v == view_name(float(az))


def test_write_chunks_resumes_and_loads(gen, tmp_path):
    from training.synth.dataset import load_chunks, write_chunks

    paths = write_chunks(tmp_path, gen.cfg, 2, 3, gen, progress=False)
    stamp = paths[0].stat().st_mtime_ns
    write_chunks(tmp_path, gen.cfg, 2, 3, gen, progress=False)
    assert paths[0].stat().st_mtime_ns == stamp  # kept, not rewritten
    data = load_chunks(paths)
    assert data["rgb"].shape[0] == 6 and len(data["specs"]) == 6


# ---- readers ------------------------------------------------------------------------------------------------------
def test_readers_are_right_on_truth_images(gen):
    from training.synth import metrics as M

    d = gen.chunk(0, 48)
    right, kinds = [], []
    for i in range(48):
        spec = Spec.from_json(str(d["specs"][i]))
        img = torch.from_numpy(d["rgb"][i]).permute(2, 0, 1).float() / 255
        kp, vis = torch.from_numpy(d["keypoints_uv"][i]), torch.from_numpy(d["visible"][i])
        right += [v for v in M.score_colors(img, kp, vis, spec, str(d["views"][i])).values() if v is not None]
        kinds += [v for v in M.score_kinds(img, kp, vis, spec, str(d["views"][i]), gen.cfg.background).values()
                  if v is not None]  # fmt: skip
    assert len(right) > 50 and np.mean(right) >= 0.88
    assert len(kinds) > 15 and np.mean(kinds) >= 0.85
    # a wrong colour is not read as right: the same probes against a far colour
    far = M.color_right(np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]), "#20c020")
    assert not far.any() and M.color_right(np.array([[0.45, 0.05, 0.05]]), "#d01010").all()  # shaded red is red
    assert not M.color_right(np.array([[0.5, 0.5, 0.5]]), "#101010").any()  # grey is not black
