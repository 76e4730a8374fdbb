"""Ray casting against meshes: analytic cube and sphere references, and tile-culled casting == brute force."""

from __future__ import annotations

import math

import pytest
import torch
import trimesh

from renderers.cameras import Cameras, look_at, orbit_cameras
from renderers.raycast import camera_hit_depth, first_hit_depth, merge_meshes, mesh_depth, mesh_silhouette
from renderers.rays import pixel_rays


def _cube(half: float = 0.5, center=(0.0, 0.0, 0.0)) -> tuple[torch.Tensor, torch.Tensor]:
    m = trimesh.creation.box(extents=(2 * half,) * 3)
    return torch.tensor(m.vertices, dtype=torch.float32) + torch.tensor(center), torch.tensor(m.faces)


@pytest.fixture(scope="module")
def sphere() -> tuple[torch.Tensor, torch.Tensor]:
    m = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    return torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces)


def test_first_hit_cube_analytic():
    V, F = _cube()
    origins = torch.tensor([[0.1, 0.2, 5.0], [0.0, 0.0, -3.0], [0.9, 0.0, 5.0], [0.0, 0.0, 0.0], [0.2, 0.3, 5.0]])
    dirs = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    t = first_hit_depth(origins, dirs, V, F)
    # front face at z = 0.5; back face from behind; a ray beside the cube; from inside to the x = 0.5 wall; away
    expected = torch.tensor([4.5, 2.5, math.inf, 0.5, math.inf])
    assert torch.allclose(t, expected, atol=1e-5)
    # an oblique ray: enters the plane z = 0.5 at x = 0.25, y = 0 after 4.5 / cos(angle)
    d = torch.nn.functional.normalize(torch.tensor([[0.05, 0.0, -1.0]]), dim=-1)
    t = first_hit_depth(torch.tensor([[0.025, 0.0, 5.0]]), d, V, F)
    assert t.item() == pytest.approx(4.5 / float(-d[0, 2]), abs=1e-5)


def test_mesh_depth_cube_matches_plane_intersection():
    V, F = _cube()
    cams = orbit_cameras(3.0, 90.0, 0.0, 40.0, 48)  # looks down -z at the front face z = 0.5
    depth = mesh_depth(cams, V, F)[0]
    o, d = pixel_rays(cams)
    t_plane = (0.5 - o[0, ..., 2]) / d[0, ..., 2]
    p = o[0] + t_plane[..., None] * d[0]
    inside = (p[..., 0].abs() <= 0.5) & (p[..., 1].abs() <= 0.5)
    assert inside.any() and (~inside).any()
    border = ((p[..., :2].abs() - 0.5).abs() < 1e-4).any(-1)  # pixel centres on the cube's edge: either answer
    assert torch.equal(torch.isfinite(depth)[~border], inside[~border])
    assert torch.allclose(depth[inside & ~border], t_plane[inside & ~border], atol=1e-4)


def test_silhouette_area_of_sphere(sphere):
    V, F = sphere
    D, fov, size = 2.5, 40.0, 96
    cams = orbit_cameras(D, 90.0, 0.0, fov, size)
    sil = mesh_silhouette(cams, V, F)[0]
    f = 0.5 * size / math.tan(math.radians(fov) / 2)
    radius_px = f * math.tan(math.asin(0.5 / D))  # the sphere's outline is a circle of this radius
    # an icosphere lies inside its sphere: its area is a bit smaller (subdivision 3: about 1 %)
    assert sil.sum().item() == pytest.approx(math.pi * radius_px**2, rel=0.04)
    ys, xs = sil.nonzero(as_tuple=True)
    assert (xs.float() + 0.5).mean().item() == pytest.approx(size / 2, abs=0.5)
    assert (ys.float() + 0.5).mean().item() == pytest.approx(size / 2, abs=0.5)


@pytest.mark.parametrize("n_points", [10, 300])  # the direct path (few rays) and the tiled path
def test_camera_casting_equals_brute_force(sphere, n_points):
    V, F = sphere
    g = torch.Generator().manual_seed(0)
    eyes = torch.tensor([[0.0, 0.3, 2.0], [1.2, -0.4, 0.3], [0.0, 0.0, 0.1]])  # the last one is inside the sphere
    c2w = look_at(eyes, torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, -1.0]]))
    cams = Cameras(c2w, torch.tensor([50.0, 60.0, 90.0]), 40, 32)
    uv = torch.rand(3, n_points, 2, generator=g) * torch.tensor([60.0, 48.0]) - 10.0  # some outside the image
    t = camera_hit_depth(cams, uv, V, F)
    K = cams.intrinsics
    d_cam = torch.cat([(uv - K[:, None, :2, 2]) / K[:, None, 0, 0, None], torch.ones(3, n_points, 1)], -1)
    dirs = torch.nn.functional.normalize(d_cam @ c2w[:, :3, :3].transpose(1, 2), dim=-1)
    ref = torch.stack([first_hit_depth(eyes[b].expand(n_points, 3), dirs[b], V, F) for b in range(3)])
    assert torch.equal(torch.isfinite(t), torch.isfinite(ref))
    assert torch.allclose(t[torch.isfinite(t)], ref[torch.isfinite(ref)], atol=1e-5)
    assert torch.isfinite(t[2]).all()  # from inside, every ray hits


def test_mesh_depth_batched_vertices_and_merge():
    a, fa = _cube(0.2, (-0.5, 0.0, 0.0))
    b, fb = _cube(0.2, (0.5, 0.0, 0.1))
    V, F = merge_meshes([(a, fa), (b, fb)])
    assert V.shape == (16, 3) and F.shape == (24, 3) and int(F.max()) == 15
    cams = orbit_cameras(3.0, 90.0, torch.tensor([0.0, 90.0]), 45.0, 64)
    both = mesh_depth(cams, V.expand(2, -1, 3), F)
    only_a = mesh_depth(cams, a, fa)
    only_b = mesh_depth(cams, b, fb)
    assert torch.equal(both, torch.minimum(only_a, only_b))
    # from the left (azimuth 90) cube b (x = 0.5) is in front of a: it hides part of it
    assert (torch.isfinite(only_a[1]) & (only_b[1] < only_a[1])).any()
