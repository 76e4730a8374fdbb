"""Room for loose garments (`dreamavatar.field.loose`): the volumes sit where the garments are, raise the density
weight there to the configured value, follow the body, and free the silhouette terms' band."""

from __future__ import annotations

import pytest
import torch

from dreamavatar.body.skeleton import JOINT_INDEX
from dreamavatar.field.deformation import density_weight
from dreamavatar.field.loose import LooseConfig, LooseRegions, loose_volumes
from prompts.spec import Garment, Spec


@pytest.fixture(scope="module")
def body():
    from dreamavatar.body import load_body

    return load_body("anny")


def _spec(*garments: Garment) -> Spec:
    return Spec(garments=list(garments))


def _joint(out, name):
    return out.joints[0, JOINT_INDEX[name]]


def test_volumes_sit_where_the_garments_are(body):
    can = body.canonical()
    vol = loose_volumes(_spec(Garment("full", "dress", "#ff0000", length=0.8), Garment("back", "cape", "#00ff00"),
                              Garment("head", "top hat", "#000000")), can)  # fmt: skip
    assert len(vol.frustums) == len(vol.boxes) == len(vol.cylinders) == 1 and vol.around == 0
    knees = (_joint(can, "left_knee") + _joint(can, "right_knee")) / 2
    head, chest = _joint(can, "head"), (_joint(can, "spine3") + _joint(can, "neck")) / 2
    top = float(can.vertices[0, :, 1].max())
    probes = {
        "between the knees": (knees, True),
        "beside the knees, 15 cm out": (knees + torch.tensor([0.15 + float(_joint(can, "left_knee")[0]), 0, 0]), True),
        "behind the back": (chest + torch.tensor([0.0, 0.0, -0.2]), True),
        "in front of the chest": (chest + torch.tensor([0.0, 0.0, 0.25]), False),
        "over the head": (torch.tensor([float(head[0]), top + 0.15, float(head[2])]), True),
        "beside the head": (head + torch.tensor([0.45, 0.0, 0.0]), False),
        "below the feet": (knees - torch.tensor([0.0, 1.0, 0.0]), False),
    }
    for name, (p, expected) in probes.items():
        assert bool(vol.inside(p[None])[0]) == expected, name
    # tight garments and no spec give no room; armour gives a uniform reach
    assert not loose_volumes(_spec(Garment("top", "t-shirt", "#ffffff")), can)
    assert not loose_volumes(None, can)
    assert loose_volumes(_spec(Garment("full", "armor", "#888888")), can).around == pytest.approx(0.04)
    # a longer skirt reaches lower
    short = loose_volumes(_spec(Garment("bottom", "skirt", "#ff0000", length=0.2)), can).frustums[0]
    long = loose_volumes(_spec(Garment("bottom", "skirt", "#ff0000", length=1.0)), can).frustums[0]
    assert long[1] < short[1] - 0.3


def test_delta_floor_gives_the_configured_weight_inside(body):
    can = body.canonical()
    cfg = LooseConfig(weight=0.9)
    reg = LooseRegions(loose_volumes(_spec(Garment("full", "dress", "#ff0000", length=0.8)), can, cfg), can, cfg)
    knees = ((_joint(can, "left_knee") + _joint(can, "right_knee")) / 2)[None]
    pts = torch.cat([knees, knees + torch.tensor([[0.0, 1.2, 0.0]])])  # between the knees; above the head
    d2 = torch.tensor([0.01, 0.01])
    tau = 0.001
    floor = reg.delta_floor(pts, d2, tau)
    w = density_weight(d2, floor, torch.zeros(2, dtype=torch.bool), tau)
    assert float(w[0]) == pytest.approx(0.9, abs=1e-4) and float(floor[1]) == 0.0


def test_volumes_follow_the_body(body):
    """In the canonical pose the surface stays put; turned and moved as a whole (only the root joint changes), it
    turns and moves rigidly with the body; in a sampled pose the cape stays behind the posed back."""
    import math

    from dreamavatar.body.skeleton import a_pose
    from dreamavatar.motion import PoseSampler

    can = body.canonical()
    reg = LooseRegions(loose_volumes(_spec(Garment("back", "cape", "#00ff00")), can), can)
    assert torch.allclose(reg.posed(can), reg.verts, atol=1e-4)
    pose = a_pose(1)
    pose[0, 0] = torch.tensor([0.0, 1.2, 0.0])
    t = torch.tensor([[0.3, 0.1, -0.2]])
    out = body(pose, t)
    c, s_ = math.cos(1.2), math.sin(1.2)
    R = torch.tensor([[c, 0.0, s_], [0.0, 1.0, 0.0], [-s_, 0.0, c]])
    pelvis = can.joints[0, 0]
    expected = (reg.verts - pelvis) @ R.T + out.joints[0, 0]
    assert torch.allclose(reg.posed(out), expected, atol=1e-3)
    from renderers.raster import vertex_normals

    def outside_share(out) -> float:  # cape points off the skin, on the outer side of the vertex that carries them
        n = vertex_normals(out.vertices, out.faces)[0, reg.anchor]
        return float((((reg.posed(out) - out.vertices[0, reg.anchor]) * n).sum(-1) > 0).float().mean())

    assert outside_share(can) > 0.9
    for seed in range(3):
        sampled = PoseSampler().sample(1, generator=torch.Generator().manual_seed(seed)).float()
        sampled[:, 0] = 0
        assert outside_share(body(sampled)) > 0.85


def test_silhouette_terms_leave_the_dress_free(body):
    from dreamavatar.train.shape import body_masks
    from renderers.cameras import orbit_cameras

    can = body.canonical()
    reg = LooseRegions(loose_volumes(_spec(Garment("full", "dress", "#ff0000", length=0.9)), can), can)
    cams = orbit_cameras(2.6, 90.0, torch.tensor([0.0]), 45.0, 64, (0.0, -0.1, 0.0))
    inside, outside = body_masks(cams, can, 0.02)
    inside_l, outside_l = body_masks(cams, can, 0.02, reg)
    assert torch.equal(inside, inside_l)  # the body's own pull is unchanged
    freed = outside & ~outside_l
    assert freed.sum() > 50 and not (outside_l & ~outside).any()
    # the freed pixels lie below the hips (lower half of the figure), between and beside the legs
    rows = torch.nonzero(freed[0])[:, 0].float()
    body_rows = torch.nonzero(inside[0])[:, 0].float()
    assert float(rows.median()) > float(body_rows.median())


def test_stage0_cache_key_depends_on_the_loose_volumes(body):
    from dreamavatar.field.avatar import AvatarConfig, AvatarField
    from dreamavatar.field.init import InitConfig, cache_key

    can = body.canonical()
    a = AvatarField(AvatarConfig())
    plain = cache_key(a, can, InitConfig(), "anny")
    a.set_spec(_spec(Garment("top", "t-shirt", "#ffffff")), can)
    assert a.loose is None and cache_key(a, can, InitConfig(), "anny") == plain
    a.set_spec(_spec(Garment("full", "dress", "#ff0000")), can)
    assert a.loose is not None and cache_key(a, can, InitConfig(), "anny") != plain


def test_occupancy_holds_the_dress_volume_and_is_kept_per_pose_and_spec(body):
    """The sampler's grid covers the dress volume beyond the body's reach, one grid per pose (stage 1 asks every step),
    and a new spec gets a new grid."""
    from dreamavatar.field.avatar import AvatarConfig, AvatarField
    from dreamavatar.field.hashgrid import HashGridConfig
    from dreamavatar.field.nerf import NeRFConfig

    canonical = body.canonical()
    av = AvatarField(AvatarConfig(nerf=NeRFConfig(grid=HashGridConfig(n_levels=4, log2_table_size=12))))
    bare = av.posed(canonical).occupancy()
    av.set_spec(_spec(Garment(region="full", kind="dress", color="#aa0000", length=1.0)), canonical)
    posed = av.posed(canonical)
    grid = posed.occupancy()
    assert grid is posed.occupancy() and grid is av.posed(canonical).occupancy()  # kept for the same pose
    hem = posed.loose_points[posed.loose_points[:, 1].argmin()]  # the dress's lowest surface point
    assert grid.query(hem[None]).all()
    assert grid.occupied.sum() > bare.occupied.sum()
    av.set_spec(_spec(Garment(region="back", kind="cape", color="#0000aa")), canonical)
    assert av.posed(canonical).occupancy() is not grid


def test_occupancy_from_the_density_extent_keeps_the_dress_and_drops_the_empty_volume(body):
    """With the density extent measured (as the trainer does every few steps), the sampler's grid keeps only the parts
    of the dress volume within reach of the density: a known skirt shell renders exactly as with the whole volume
    in the canonical pose (and within a few edge pixels in a walking pose) from fewer samples."""
    from dreamavatar.body.skeleton import a_pose
    from dreamavatar.field.avatar import AvatarConfig, AvatarField
    from dreamavatar.field.extent import density_extent
    from dreamavatar.field.hashgrid import HashGridConfig
    from dreamavatar.field.nerf import NeRFConfig
    from dreamavatar.render import render_avatar
    from renderers.cameras import orbit_cameras

    canonical = body.canonical()
    verts = canonical.vertices[0]
    av = AvatarField(AvatarConfig(nerf=NeRFConfig(grid=HashGridConfig(n_levels=4, log2_table_size=12))))
    av.set_spec(_spec(Garment(region="full", kind="dress", color="#aa0000", length=0.6)), canonical)
    y0, y1, rx0, rx1, rz0, rz1, cx, cz = av.loose.volumes.frustums[0]

    def density(x: torch.Tensor) -> torch.Tensor:  # the skin's 2 cm layer + a 2 cm skirt shell 3 cm inside the hem
        skin = torch.cdist(x, verts).min(1).values < 0.02
        s = ((y0 - x[:, 1]) / (y0 - y1)).clamp(0, 1)
        r = (((x[:, 0] - cx) / (rx0 + s * (rx1 - rx0))) ** 2 + ((x[:, 2] - cz) / (rz0 + s * (rz1 - rz0))) ** 2).sqrt()
        shell = (x[:, 1] <= y0) & (x[:, 1] >= y1 + 0.05) & (r > 0.75) & (r < 0.9)
        return torch.where(skin | shell, 400.0, 0.0)

    av.canonical.density = density
    av.canonical.query = lambda x: (density(x), torch.full((x.shape[0], 3), 0.5))
    extent = density_extent(av, canonical)
    cams = orbit_cameras(2.6, 90.0, torch.tensor([0.0, 70.0]), 45.0, 32, (0.0, 0.0, 0.0))
    walk = a_pose(1)
    walk[0, 1, 0], walk[0, 2, 0] = -0.3, 0.3  # hips forward and back
    for out, tol in ((canonical, 2e-3), (body(walk), 0.1)):
        av.set_extent(None)
        full = render_avatar(av, out, cams, torch.ones(3), 0.02)
        av.set_extent(extent)
        fast = render_avatar(av, out, cams, torch.ones(3), 0.02)
        assert fast["num_samples"] < 0.85 * full["num_samples"]
        assert full["opacity"].max() > 0.9
        diff = (fast["opacity"] - full["opacity"]).abs()
        assert diff.max() < tol and diff.mean() < 2e-3
    # the skirt is there: the front view is opaque between the knees, where the bare legs leave a gap
    av.set_extent(extent)
    grid = av.posed(canonical).occupancy()
    knees = ((_joint(canonical, "left_knee") + _joint(canonical, "right_knee")) / 2)[None]
    assert grid.query(knees + torch.tensor([[0.0, 0.0, rz0 + 0.1]])).all()
    av.set_extent(None)
