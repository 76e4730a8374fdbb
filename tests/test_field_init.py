"""Stage 0 (body-guided initialisation), rendering through the deformation in new poses, caching and baking.

One small field is fitted once for the module; the reference is the body mesh itself, ray cast by
renderers.raycast (stage 0 fits to masks from a different renderer, the z-buffer rasteriser).
"""

from __future__ import annotations

import math

import pytest
import torch

from dreamavatar.body.skeleton import JOINT_INDEX, a_pose
from dreamavatar.field.avatar import AvatarConfig, AvatarField
from dreamavatar.field.bake import bake_avatar
from dreamavatar.field.hashgrid import HashGridConfig
from dreamavatar.field.init import InitConfig, cache_key, initialize
from dreamavatar.field.nerf import NeRFConfig
from renderers.cameras import orbit_cameras
from renderers.raycast import mesh_silhouette
from renderers.samplers import OccupancySampler
from renderers.volume import render_image

SIZE = 64


def small_avatar() -> AvatarField:
    torch.manual_seed(0)
    grid = HashGridConfig(n_levels=8, log2_table_size=14, finest_resolution=1024)
    return AvatarField(AvatarConfig(nerf=NeRFConfig(grid=grid)))


def init_config(cache_dir) -> InitConfig:
    return InitConfig(iterations=80, resolution=32, views=64, rays_per_step=1024, cache_dir=str(cache_dir))


def make_poses() -> torch.Tensor:
    """8 poses: bent elbows and knees, raised arms and legs, a squat, a turn (8 x 24 x 3)."""
    P = a_pose(8)
    J = JOINT_INDEX

    def rot(i, joint, axis, deg):
        P[i, J[joint], axis] = math.radians(deg)

    rot(0, "left_elbow", 1, -90), rot(0, "right_elbow", 1, 90)
    rot(1, "left_knee", 0, 80), rot(1, "right_knee", 0, 40)
    rot(2, "left_hip", 0, -70), rot(2, "left_knee", 0, 90), rot(2, "right_elbow", 1, 100)
    rot(3, "left_shoulder", 2, 30), rot(3, "right_shoulder", 2, -30), rot(3, "left_elbow", 1, -60)
    rot(4, "pelvis", 1, 90), rot(4, "left_elbow", 1, -120), rot(4, "right_knee", 0, 70)
    rot(5, "left_hip", 0, -30), rot(5, "right_hip", 0, 25), rot(5, "right_knee", 0, 60), rot(5, "spine2", 1, 20)
    rot(6, "left_hip", 0, -60), rot(6, "right_hip", 0, -60), rot(6, "left_knee", 0, 100), rot(6, "right_knee", 0, 100)
    rot(7, "spine1", 0, 25), rot(7, "neck", 1, 40), rot(7, "left_elbow", 1, -45), rot(7, "right_elbow", 1, 45)
    return P


def iou(opacity: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image IoU of opacity > 0.5 with a boolean mask (B x H x W) -> B."""
    o = opacity > 0.5
    return (o & mask).sum((1, 2)).float() / (o | mask).sum((1, 2)).clamp(min=1).float()


def render_opacity(posed, cams) -> torch.Tensor:
    with torch.no_grad():
        return render_image(cams, posed, OccupancySampler(posed.occupancy(), step=0.01), near=0.05, far=10.0)["opacity"]


@pytest.fixture(scope="module")
def fitted(anny_body, tmp_path_factory):
    cache = tmp_path_factory.mktemp("init_cache")
    av = small_avatar()
    canonical = anny_body.canonical()
    result = initialize(av, canonical, init_config(cache), body_name="anny", progress=False)
    return av, canonical, result, cache


def test_opacity_matches_the_body_silhouette(fitted):
    av, canonical, result, _ = fitted
    assert not result.cached and result.loss < 0.02
    cams = orbit_cameras(3.0, torch.tensor([90.0, 80, 100, 90, 90, 70, 90, 110]), torch.arange(8) * 45.0, 40.0, SIZE)
    ref = mesh_silhouette(cams, canonical.vertices[0], canonical.faces)
    got = iou(render_opacity(av.posed(canonical), cams), ref)
    print('canonical IoU', got)
    assert (got >= 0.9).all(), got


def test_new_poses_through_the_deformation_match_the_posed_mesh(fitted, anny_body):
    av, _, _, _ = fitted
    posed = anny_body(make_poses(), torch.zeros(8, 3))
    cams = orbit_cameras(3.0, 90.0, torch.arange(8) * 45.0 + 20.0, 40.0, SIZE)
    scores = []
    for i in range(8):
        ref = mesh_silhouette(cams[i], posed.vertices[i], posed.faces)
        scores.append(iou(render_opacity(av.posed(posed, i), cams[i]), ref)[0])
    scores = torch.stack(scores)
    print('posed IoU', scores)
    assert (scores >= 0.85).all(), scores


def test_cache_is_reused_and_written_atomically(fitted):
    av, canonical, result, cache = fitted
    assert result.path is not None and result.path.is_file() and result.path.parent == cache
    assert not list(cache.glob("*.tmp"))
    again = small_avatar()
    res2 = initialize(again, canonical, init_config(cache), body_name="anny", progress=False)
    assert res2.cached and res2.path == result.path
    for (k, a), b in zip(av.canonical.state_dict().items(), again.canonical.state_dict().values()):
        assert torch.equal(a, b), k
    # anything the fit depends on changes the key
    cfg = init_config(cache)
    assert cache_key(av, canonical, cfg, "anny") != cache_key(av, canonical, InitConfig(iterations=81), "anny")
    assert cache_key(av, canonical, cfg, "anny") != cache_key(av, canonical, cfg, "smpl")


def test_baked_field_renders_like_the_nerf(fitted, anny_body):
    av, canonical, _, _ = fitted
    baked = bake_avatar(av, canonical, cell=0.01)
    # at the grid's own points (here: those nearest some skin vertices) the lookup returns the baked NeRF values
    lo, hi = baked.aabb
    dims = torch.tensor(baked.grid.shape[1:])
    step = (hi - lo) / (dims - 1)
    x = lo + torch.round((canonical.vertices[0, ::40] - lo) / step) * step
    with torch.no_grad():
        s_nerf, a_nerf = av.canonical.query(x)
        d_nerf = av.deformation.delta(x)
    s_baked, a_baked = baked.query(x)
    assert torch.allclose(s_baked, s_nerf, rtol=1e-3, atol=1e-3)
    assert torch.allclose(a_baked, a_nerf, atol=1e-4)
    assert torch.allclose(baked.delta(x), d_nerf, atol=1e-7)
    # between grid points: trilinear, so rendering through the deformation keeps the silhouette
    posed = anny_body(make_poses()[:1], torch.zeros(1, 3))
    cams = orbit_cameras(3.0, 90.0, 30.0, 40.0, SIZE)
    a = render_opacity(av.posed(posed), cams)
    b = render_opacity(av.posed(posed, baked=baked), cams)
    print('bake', iou(b, a > 0.5))
    assert iou(b, a > 0.5)[0] > 0.95
