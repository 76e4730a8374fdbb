"""The fast paths (README "Speed") against the reference paths they replace: the same values and gradients."""

from __future__ import annotations

import io

import pytest
import torch

from dreamavatar.field.avatar import AvatarConfig, AvatarField
from dreamavatar.field.hashgrid import HashGrid, HashGridConfig
from dreamavatar.field.nerf import NeRFConfig


@pytest.mark.parametrize("cfg", [
    HashGridConfig(n_levels=6, log2_table_size=12, base_resolution=4, finest_resolution=128),  # dense + hashed
    HashGridConfig(n_levels=12, log2_table_size=16, finest_resolution=1024),  # the tiny preset's grid
])  # fmt: skip
def test_hash_grid_fast_path_matches_the_reference_values_and_table_gradient(cfg):
    torch.manual_seed(0)
    g = HashGrid(cfg)
    with torch.no_grad():
        g.table.uniform_(-1, 1)
    x = torch.rand(3000, 3) * 4.4 - 2.2  # some outside the box (clamped)
    fast, ref = g(x), g.forward_reference(x)
    assert torch.allclose(fast, ref, atol=1e-5)
    w = torch.randn_like(ref)
    (fast * w).sum().backward()
    g_fast, g.table.grad = g.table.grad.clone(), None
    (ref * w).sum().backward()
    assert torch.allclose(g_fast, g.table.grad, atol=1e-4, rtol=1e-5)
    assert g_fast.abs().sum() > 0


def test_hash_grid_takes_autograd_path_for_point_gradients():
    g = HashGrid(HashGridConfig(n_levels=4, log2_table_size=10, finest_resolution=64))
    with torch.no_grad():
        g.table.uniform_(-1, 1)
    x = (torch.rand(50, 3) - 0.5).requires_grad_(True)
    g(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_occupancy_with_per_point_radii_is_the_union_of_single_radius_grids():
    from renderers.occupancy import OccupancyGrid

    torch.manual_seed(1)
    pts = torch.rand(300, 3)
    radii = torch.where(torch.arange(300) < 150, 0.05, 0.12)
    box = torch.tensor([[-0.2, -0.2, -0.2], [1.2, 1.2, 1.2]])
    both = OccupancyGrid.from_points(pts, radii, 0.04, aabb=box).occupied
    a = OccupancyGrid.from_points(pts[:150], 0.05, 0.04, aabb=box).occupied
    b = OccupancyGrid.from_points(pts[150:], 0.12, 0.04, aabb=box).occupied
    assert torch.equal(both, a | b) and both.sum() > a.sum()


@pytest.fixture(scope="module")
def fitted(anny_body):
    """A small avatar whose canonical density is a 3 cm layer around the canonical body (a known extent)."""
    torch.manual_seed(0)
    av = AvatarField(AvatarConfig(nerf=NeRFConfig(grid=HashGridConfig(n_levels=6, log2_table_size=14))))
    canonical = anny_body.canonical()
    verts = canonical.vertices[0]

    def density(x: torch.Tensor) -> torch.Tensor:  # 500 per metre within 3 cm of a vertex, 0 beyond
        d = torch.cdist(x, verts).min(1).values
        return torch.where(d < 0.03, 500.0, 0.0)

    av.canonical.density = density
    av.canonical.query = lambda x: (density(x), torch.full((x.shape[0], 3), 0.5))
    return av, canonical


def test_density_extent_finds_how_far_density_reaches(fitted):
    from dreamavatar.field.extent import EXTENT_MARGIN, density_extent

    av, canonical = fitted
    ext = density_extent(av, canonical)
    verts = canonical.vertices[0]
    assert ext.shape == (verts.shape[0],)
    assert 0.02 < ext.max() < 0.03 + 1e-4  # the layer's edge is found, never beyond it
    # every point of the layer lies within some vertex's extent + margin: the occupancy keeps all of it
    torch.manual_seed(2)
    p = verts[torch.randint(len(verts), (2000,))] + torch.nn.functional.normalize(torch.randn(2000, 3), dim=-1) * 0.028
    p = p[torch.cdist(p, verts).min(1).values < 0.03]
    assert (torch.cdist(p, verts) - (ext + EXTENT_MARGIN)[None]).min(1).values.max() <= 0


def test_renders_with_density_extent_and_early_stop_match_the_full_sampling(fitted, anny_body):
    """Occupancy from the density and early ray termination skip only samples that change (almost) nothing: none in
    the canonical pose; in a bent pose, density the deformation folds out of a crease beyond a vertex's extent +
    margin is skipped, a few pixels' edges."""
    from dreamavatar.body.skeleton import a_pose
    from dreamavatar.field.extent import density_extent
    from dreamavatar.render import render_avatar
    from renderers.cameras import orbit_cameras

    av, canonical = fitted
    pose = a_pose(1)
    pose[0, 18, 1] = -1.0  # a bent elbow: the extent is measured in the canonical pose, used in others
    cams = orbit_cameras(2.6, 90.0, torch.tensor([0.0, 120.0]), 45.0, 24, (0.0, 0.0, 0.0))
    extent = density_extent(av, canonical)
    for out, tol in ((canonical, 2e-3), (anny_body(pose), 0.1)):
        av.set_extent(None)
        full = render_avatar(av, out, cams, torch.ones(3), 0.02)
        av.set_extent(extent)
        fast = render_avatar(av, out, cams, torch.ones(3), 0.02, early_stop=1e-4)
        assert fast["num_samples"] < 0.85 * full["num_samples"]
        assert full["opacity"].max() > 0.9
        diff = (fast["opacity"] - full["opacity"]).abs()
        assert diff.max() < tol and diff.mean() < 2e-4
        assert (fast["rgb"] - full["rgb"]).abs().max() < tol
    av.set_extent(None)


def test_baked_field_one_lookup_matches_the_deformation_then_grid_query(fitted, anny_body):
    """The baked posed field reads delta, sigma and albedo in one lookup: the same values as the deformation (the
    grid's delta) followed by the grid's query where the weight counts."""
    from dreamavatar.body.skeleton import a_pose
    from dreamavatar.field.bake import bake_avatar

    av, canonical = fitted
    baked = bake_avatar(av, canonical, cell=0.02)
    pose = a_pose(1)
    pose[0, 18, 1] = -1.0
    posed = av.posed(anny_body(pose), baked=baked)
    torch.manual_seed(3)
    v = posed.body.vertices
    x = v[torch.randint(len(v), (4000,))] + torch.randn(4000, 3) * 0.04  # inside, on and off the skin
    sigma, rgb = posed(x, x)
    ref = av.deformation(x, posed.body, baked.delta, posed.reach)
    keep = ref.weight > posed.weight_floor
    s_ref, a_ref = baked.query(ref.points[keep])
    assert keep.any() and (~keep).any() and (sigma[~keep] == 0).all()
    assert torch.allclose(sigma[keep], s_ref * ref.weight[keep], rtol=1e-5, atol=1e-4)
    assert torch.allclose(rgb[keep], a_ref, atol=1e-6)


def test_posed_reuses_the_prepared_body_only_for_the_same_output(anny_body):
    av = AvatarField(AvatarConfig(nerf=NeRFConfig(grid=HashGridConfig(n_levels=4, log2_table_size=10))))
    canonical = anny_body.canonical()
    a, b = av.posed(canonical), av.posed(canonical)
    assert a.body is b.body
    assert av.posed(anny_body.canonical()).body is not a.body  # another output (same values): prepared anew
    assert a.occupancy() is b.occupancy()  # one grid while the reach stays within its 5 mm step


def test_max_delta_is_kept_until_the_delta_mlp_changes(anny_body):
    av = AvatarField(AvatarConfig(nerf=NeRFConfig(grid=HashGridConfig(n_levels=4, log2_table_size=10))))
    v = anny_body.canonical().vertices[0]
    first = av.max_delta(v)
    assert first == float(av.deformation.delta(v).detach().max())
    with torch.no_grad():
        av.deformation.delta_net[-1].bias += 1.0  # in place, as an optimiser step
    expected = float(av.deformation.delta(v).detach().max())
    assert av.max_delta(v) == pytest.approx(expected) and av.max_delta(v) > first


def test_frozen_denoiser_matches_the_eager_one():
    from dreamavatar.train.frozen import FrozenDenoiser, freeze_denoiser
    from priors.tiny import load_tiny_prior

    eager, frozen = load_tiny_prior(), load_tiny_prior()
    freeze_denoiser(frozen)
    assert isinstance(frozen.denoiser, FrozenDenoiser)
    torch.manual_seed(0)
    x, cond = torch.randn(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    emb = eager.embed(["front view of a man in red", ""])
    with torch.no_grad():
        for t in (torch.tensor([900, 20]), torch.tensor([5, 500])):  # one trace serves every timestep
            assert torch.allclose(frozen.predict_noise(x, t, emb, cond), eager.predict_noise(x, t, emb, cond),
                                  atol=1e-4)  # fmt: skip
    assert sum(k[0] == frozen.model_id for k in frozen.denoiser._traces) == 1
    again = load_tiny_prior()
    freeze_denoiser(again)  # the same weights: the trace is shared, nothing traced again
    with torch.no_grad():
        again.predict_noise(x, t, emb, cond)
    assert sum(k[0] == frozen.model_id for k in again.denoiser._traces) == 1


def test_euler_conversion_per_convention_matches_per_joint():
    import roma

    from dreamavatar.motion.limits import CONVENTIONS, euler_to_rotvec

    torch.manual_seed(0)
    angles = (torch.rand(5, 24, 3, dtype=torch.float64) - 0.5) * 120
    ref = torch.stack([roma.euler_to_rotvec(c, [angles[:, j, "XYZ".index(a)] for a in c], degrees=True)
                       for j, c in enumerate(CONVENTIONS)], 1)  # fmt: skip
    assert torch.allclose(euler_to_rotvec(angles), ref, atol=1e-12)


def test_first_run_announces_the_body_build(tmp_path, monkeypatch):
    import threading
    import time

    from dreamavatar import first_run

    monkeypatch.setenv("ANNY_CACHE_DIR", str(tmp_path))
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr(first_run, "_finished", threading.Event())
    assert first_run.announce_first_build(every=0.05)
    assert first_run.announced()  # the builder stays quiet: one voice
    time.sleep(0.3)
    first_run.build_finished()
    time.sleep(0.2)
    lines = err.getvalue().splitlines()
    assert lines[0] == first_run.FIRST_BUILD
    assert sum("still building" in line for line in lines) >= 2 and "ready" in lines[-1]
    (tmp_path / "v14").mkdir()
    (tmp_path / "v14" / "build_compact_model_data_0.safetensors").write_bytes(b"x")  # anny's data is there
    assert not first_run.announce_first_build()  # nothing slow ahead: nothing to say


def test_heartbeat_never_stays_silent():
    import time

    from dreamavatar.progress import heartbeat

    out = io.StringIO()
    with heartbeat("baking (about 1 s)", every=0.05, stream=out):
        time.sleep(0.4)
    lines = out.getvalue().splitlines()
    assert lines[0] == "baking (about 1 s)" and lines[-1].startswith("  done in")
    assert sum("still baking" in line for line in lines) >= 3


def test_fresh_machine_prints_the_build_first(tmp_path):
    """`dreamavatar generate` with an empty anny cache: its first line says what it is doing (stopped after it)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ANNY_CACHE_DIR": str(tmp_path / "anny")}
    code = "import sys; from dreamavatar.cli import main; sys.exit(main())"
    p = subprocess.Popen([sys.executable, "-c", code, "generate", "a man in red", "--out", str(tmp_path / "run")],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)  # fmt: skip
    try:
        first = p.stderr.readline().strip()
    finally:
        p.kill()
        p.wait()
    assert first.startswith("building the anny body model (first run only")


def test_the_command_line_parses_before_importing_torch():
    """What runs before the first-run announcement (building the parser of every command) imports no torch, anny or
    OmegaConf: they take many seconds on a fresh, busy machine."""
    import subprocess
    import sys

    code = ("import sys; from dreamavatar.cli import build_parser; build_parser(); "
            "print(' '.join(m for m in ('torch', 'anny', 'omegaconf', 'trimesh') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
