"""Skeleton-tied deformation: nearest-vertex inverse skinning, the density weight and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from dreamavatar.body.skeleton import JOINT_INDEX, a_pose
from dreamavatar.field.avatar import AvatarConfig, AvatarField
from dreamavatar.field.deformation import Deformation, PosedBody, density_weight
from dreamavatar.field.hashgrid import HashGridConfig
from dreamavatar.field.nerf import NeRFConfig


def bent_pose() -> torch.Tensor:
    """A-pose with bent elbows and knees, a raised leg and a turned body (1 x 24 x 3)."""
    p = a_pose(1)
    p[0, JOINT_INDEX["left_elbow"], 1] = -1.4
    p[0, JOINT_INDEX["right_elbow"], 1] = 1.2
    p[0, JOINT_INDEX["left_hip"], 0] = -0.9
    p[0, JOINT_INDEX["left_knee"], 0] = 1.3
    p[0, JOINT_INDEX["right_knee"], 0] = 0.5
    p[0, 0, 1] = 0.6
    return p


@pytest.fixture(scope="module")
def bodies(anny_body):
    canonical = anny_body.canonical()
    posed = anny_body(bent_pose(), torch.tensor([[0.1, 0.05, -0.2]]))
    return canonical, posed


def test_weight_formula():
    tau = 0.001
    d = torch.tensor([0.0, 0.02, 0.05, 0.2])
    w = density_weight(d**2, torch.zeros(4), torch.zeros(4, dtype=torch.bool), tau)
    assert torch.allclose(w[:3], torch.tensor([0.5, 0.4013, 0.0759]), atol=1e-3)
    assert w[3] < 1e-10
    # delta widens the shell: w = 0.5 where d^2 = delta
    w = density_weight(torch.tensor([0.01]), torch.tensor([0.01]), torch.tensor([False]), tau)
    assert torch.allclose(w, torch.tensor([0.5]))
    assert density_weight(torch.tensor([0.5]), torch.zeros(1), torch.tensor([True]), tau) == 1.0


def test_point_on_a_posed_vertex_maps_to_its_canonical_vertex(bodies):
    canonical, posed = bodies
    body = PosedBody.from_output(posed)
    deform = Deformation()
    idx = torch.arange(0, posed.vertices.shape[1], 7)
    x_c, d2, inside, nearest = deform.warp(posed.vertices[0, idx], body)
    assert (d2 < 1e-10).all()
    assert torch.allclose(x_c, canonical.vertices[0, idx], atol=1e-4)
    # a point 1 cm off the skin moves (nearly) rigidly with its vertex: about 1 cm from the canonical vertex
    # (blended skinning transforms are not exactly rigid near bent joints)
    p = posed.vertices[0, idx] + 0.01 * body.normals[idx]
    x_c, d2, _, nearest = deform.warp(p, body)
    err = ((x_c - canonical.vertices[0, nearest]).norm(dim=-1) - d2.sqrt()).abs()
    assert (err < 1e-3).float().mean() > 0.95 and err.max() < 5e-3


def test_inside_points_have_weight_one_and_outside_follow_the_falloff(bodies):
    _, posed = bodies
    body = PosedBody.from_output(posed)
    deform = Deformation()
    inner = [JOINT_INDEX[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "left_knee", "right_hip")]
    res = deform(posed.joints[0, inner], body)
    assert res.inside.all() and (res.weight == 1).all()
    # just under and above the skin of the torso and thighs (vertices whose normal is well defined)
    idx = torch.arange(0, posed.vertices.shape[1], 97)
    v, n = body.vertices[idx], body.normals[idx]
    under = deform(v - 0.005 * n, body)
    assert under.inside.float().mean() > 0.95
    for dist, expect in ((0.02, 0.40), (0.05, 0.08)):
        out = deform(v + dist * n, body)
        ok = (out.d2.sqrt() - dist).abs() < 5e-4  # the nearest vertex is the one we started from (convex spots)
        assert ok.float().mean() > 0.3
        assert not out.inside[ok].any()
        assert (out.delta < 1e-4).all()  # delta starts near 0
        assert (out.weight[ok] - expect).abs().max() < 0.01
        formula = torch.sigmoid(-(out.d2 - out.delta) / 0.001)
        assert torch.allclose(out.weight[~out.inside], formula[~out.inside])


@pytest.mark.parametrize("knn", ["kdtree", "pykdtree"])
def test_tree_search_matches_brute_force(bodies, knn):
    """Both KD-trees find the vertex an exhaustive search finds, and agree on which points have none in reach."""
    if knn == "pykdtree":
        pytest.importorskip("pykdtree")
    _, posed = bodies
    a = PosedBody.from_output(posed, knn=knn)
    assert a.tree is not None and a.tree.kind == knn
    torch.manual_seed(0)
    x = torch.rand(3000, 3) * torch.tensor([1.6, 2.0, 1.0]) - torch.tensor([0.8, 1.0, 0.5])
    d_all = torch.cdist(x.double(), a.vertices.double())  # the reference: every distance
    ia = a.nearest(x)
    assert torch.allclose((x - a.vertices[ia]).norm(dim=-1).double(), d_all.min(-1).values, atol=1e-5)
    bounded = a.nearest(x, max_distance=0.05)
    near = d_all.min(-1).values < 0.05
    assert near.any() and (~near).any()
    assert torch.equal(bounded >= 0, near) and torch.equal(bounded[near], ia[near])
    b = PosedBody.from_output(posed, knn="torch")
    assert b.tree is None
    assert torch.allclose((x - b.vertices[b.nearest(x)]).norm(dim=-1).double(), d_all.min(-1).values, atol=1e-5)


def test_auto_search_falls_back_to_scipy_without_pykdtree(bodies, monkeypatch):
    import sys

    _, posed = bodies
    monkeypatch.setitem(sys.modules, "pykdtree.kdtree", None)  # import fails as if not installed
    assert PosedBody.from_output(posed, knn="auto").tree.kind == "kdtree"
    with pytest.raises(ImportError, match="pip install pykdtree"):
        PosedBody.from_output(posed, knn="pykdtree")


def test_gradients_reach_grid_mlps_and_delta(bodies):
    from renderers.cameras import orbit_cameras
    from renderers.samplers import OccupancySampler
    from renderers.volume import render_image

    _, posed = bodies
    torch.manual_seed(0)
    av = AvatarField(AvatarConfig(nerf=NeRFConfig(grid=HashGridConfig(n_levels=4, log2_table_size=12))))
    p = av.posed(posed)
    occ = p.occupancy(cell_size=0.04)
    # the occupancy reaches as far as the weight does: beyond its radius w < weight_floor
    r = av.deformation.radius(p.delta_max())
    assert math.isclose(r, math.sqrt(0.001 * math.log(999) + p.delta_max()), rel_tol=1e-6)
    cams = orbit_cameras(2.5, 90.0, 30.0, 45.0, 12)
    out = render_image(cams, p, OccupancySampler(occ, step=0.02), near=0.05, far=10.0)
    assert out["opacity"].max() > 0.1
    (out["opacity"].sum() + out["rgb"].sum()).backward()
    grads = {
        "hash grid": av.canonical.grid.table.grad,
        "nerf mlp": av.canonical.net[0].weight.grad,
        "delta mlp": av.deformation.delta_net[0].weight.grad,
        "delta bias": av.deformation.delta_net[-1].bias.grad,
    }
    for name, g in grads.items():
        assert g is not None and g.abs().sum() > 0, name
