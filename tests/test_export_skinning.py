"""Skin weights of exported meshes: closest points on the body surface (against libigl's exact query and a hand-worked
triangle), barycentric weight transfer and its trust test, inpainting over the mesh (against the 1D harmonic
solution), posing and the edge-stretch measure."""

from __future__ import annotations

import numpy as np
import pytest

from dreamavatar.export.skinning import (
    closest_point_on_triangles,
    closest_points_on_mesh,
    edge_stretch,
    inpaint_weights,
    limit_influences,
    pose_vertices,
    stretch_summary,
    transfer_weights,
)


def test_closest_point_on_a_triangle_in_every_region():
    a, b, c = np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    cases = {  # query point -> expected closest point (worked by hand)
        (0.2, 0.2, 0.5): (0.2, 0.2, 0.0),  # inside, above the face
        (-1.0, -1.0, 0.0): (0.0, 0.0, 0.0),  # vertex a
        (2.0, -0.5, 0.0): (1.0, 0.0, 0.0),  # vertex b
        (-0.3, 2.0, 1.0): (0.0, 1.0, 0.0),  # vertex c
        (0.5, -1.0, 0.0): (0.5, 0.0, 0.0),  # edge ab
        (-1.0, 0.25, 0.0): (0.0, 0.25, 0.0),  # edge ac
        (1.0, 1.0, 0.0): (0.5, 0.5, 0.0),  # edge bc
    }
    p = np.array(list(cases))
    n = len(p)
    bary = closest_point_on_triangles(p, np.tile(a, (n, 1)), np.tile(b, (n, 1)), np.tile(c, (n, 1)))
    np.testing.assert_allclose(bary.sum(1), 1.0)
    np.testing.assert_allclose(bary @ np.stack([a, b, c]), np.array(list(cases.values())), atol=1e-12)


def _lumpy_sphere():
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=4, radius=0.3)
    v = np.asarray(m.vertices) * (1 + 0.15 * np.sin(5 * m.vertices[:, :1]) * np.cos(4 * m.vertices[:, 1:2]))
    return v, np.asarray(m.faces, dtype=np.int64)


def test_closest_points_on_mesh_match_libigl():
    igl = pytest.importorskip("igl")
    v, f = _lumpy_sphere()
    rng = np.random.default_rng(0)
    p = v[rng.integers(0, len(v), 3000)] + rng.normal(scale=0.03, size=(3000, 3))
    face, bary, dist = closest_points_on_mesh(p, v, f)
    d2, _, ref = igl.point_mesh_squared_distance(p, v, f)
    assert np.abs(dist - np.sqrt(d2)).max() < 1e-3
    assert (np.abs(dist - np.sqrt(d2)) < 1e-9).mean() > 0.995
    q = np.einsum("nk,nkd->nd", bary, v[f[face]])
    np.testing.assert_allclose(np.linalg.norm(q - p, axis=1), dist, atol=1e-12)


def test_transfer_weights_interpolate_the_closest_triangle():
    body = np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0], [1.0, 1, 0]])
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    body_w = np.eye(4)[:, :3] + np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1.0]])  # vertex 3 -> joint 2
    pts = np.array([[0.2, 0.3, 0.05], [0.9, 0.8, -0.2], [-0.5, 0.5, 0.0]])
    normals = np.array([[0.0, 0, 1], [0.0, 0, -1], [-1.0, 0, 0]])
    w, trusted = transfer_weights(pts, body, faces, body_w, normals, max_distance=0.1, max_angle=30)
    # above (0.2, 0.3) in triangle 0: barycentric (0.5, 0.2, 0.3); (0.9, 0.8) in triangle 1: b 0.2, c 0.1, d 0.7;
    # (-0.5, 0.5) projects onto the edge a-c at (0, 0.5)
    np.testing.assert_allclose(w, [[0.5, 0.2, 0.3], [0.0, 0.2, 0.8], [0.5, 0.0, 0.5]], atol=1e-12)
    # trusted: only the first (5 cm above the body, facing its way); the second faces against it, the third is 50 cm off
    assert trusted.tolist() == [True, False, False]
    assert transfer_weights(pts, body, faces, body_w, None, max_distance=1.0)[1].tolist() == [True, True, True]


def _strip(n: int = 40):
    """A 1 m x 0.1 m strip of triangles along x, weights a step from joint 0 to joint 1 at x = 0.5."""
    xs = np.linspace(0, 1, n)
    v = np.concatenate([np.stack([xs, np.zeros(n), np.zeros(n)], 1), np.stack([xs, np.full(n, 0.1), np.zeros(n)], 1)])
    f = np.concatenate([[[i, i + 1, n + i], [i + 1, n + i + 1, n + i]] for i in range(n - 1)])
    w = np.stack([v[:, 0] < 0.5, v[:, 0] >= 0.5], 1).astype(float)
    return v, f, w


def test_inpainting_fills_the_untrusted_span_harmonically():
    """Weights trusted only at the strip's ends (joint 0 up to x = 0.275, joint 1 from x = 0.725): the fill between is
    the harmonic function of the strip, linear in x: w1 = (x - 0.275) / 0.45."""
    v, f, _ = _strip(41)
    w0 = np.stack([v[:, 0] < 0.5, v[:, 0] >= 0.5], 1).astype(float)
    trusted = (v[:, 0] < 0.3 - 1e-9) | (v[:, 0] > 0.7 + 1e-9)
    w = inpaint_weights(w0, v, f, trusted, radius=1e-4)
    np.testing.assert_allclose(w.sum(1), 1.0)
    mid = ~trusted
    linear = (v[:, 0] - 0.275) / 0.45
    np.testing.assert_allclose(w[mid, 1], linear[mid], atol=0.02)  # the triangulation's diagonals tilt each row a bit
    rows = (w[:41, 1] + w[41:, 1]) / 2  # ... in opposite directions: their mean is the straight ramp
    np.testing.assert_allclose(rows[mid[:41]], linear[:41][mid[:41]], atol=2e-3)
    np.testing.assert_allclose(w[trusted], w0[trusted], atol=1e-3)  # a tiny radius keeps the trusted weights
    # a larger radius also smooths the trusted ones, keeping sums and constants
    soft = inpaint_weights(w0, v, f, np.ones(len(v), bool), radius=0.05)
    assert 0.05 < soft[19, 1] < 0.5 < soft[21, 1] < 0.95 and np.all(np.diff(soft[:41, 1]) >= -1e-12)
    const = np.tile([[0.3, 0.7]], (len(v), 1))
    np.testing.assert_allclose(inpaint_weights(const, v, f, trusted, 0.05), const, atol=1e-12)


def test_limit_influences_keeps_four_joints_without_seams():
    """Six joints blending along the strip (Gaussian bumps): cutting each vertex to its 4 largest jumps where the
    4th and 5th swap; limit_influences keeps 4 a vertex and changes smoothly from one vertex to the next."""
    v, f, _ = _strip(81)
    centres = np.linspace(0.1, 0.9, 6)
    w = np.exp(-((v[:, :1] - centres[None]) / 0.3) ** 2)  # wide: five or six joints matter at every vertex
    w /= w.sum(1, keepdims=True)
    cut = np.where(w >= np.sort(w, 1)[:, -4:-3], w, 0.0)
    cut /= cut.sum(1, keepdims=True)
    lim = limit_influences(w, v, f, k=4)
    assert (lim > 0).sum(1).max() == 4 and (cut > 0).sum(1).max() == 4
    np.testing.assert_allclose(lim.sum(1), 1.0)
    step = lambda x: np.abs(x[:80] - x[1:81]).max()  # the largest change between neighbours along the bottom row
    assert step(lim) < 0.35 * step(cut)  # 0.035 against 0.119 for the cut
    assert np.abs(lim - w).max() <= np.abs(cut - w).max() + 1e-9  # no farther from the weights it was given


def test_posing_and_edge_stretch_of_a_bent_strip():
    """Bending joint 1's half of the strip up by 90 degrees about the z axis at x = 0.5: with the hard step the edges
    across the joint stretch; with inpainted weights the worst stretch drops. Reference: the stretch of a rigid
    rotation is exactly 1 everywhere."""
    v, f, w = _strip()
    R = np.eye(4)
    R[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    pivot = np.eye(4)
    pivot[:3, 3] = [0.5, 0, 0]
    T = np.stack([np.eye(4), pivot @ R @ np.linalg.inv(pivot)])
    rigid = edge_stretch(v, pose_vertices(v, np.tile([[0.0, 1.0]], (len(v), 1)), T), f)
    np.testing.assert_allclose(rigid, 1.0, atol=1e-12)
    hard = stretch_summary(edge_stretch(v, pose_vertices(v, w, T), f))
    trusted = np.abs(v[:, 0] - 0.5) > 0.1
    soft = stretch_summary(edge_stretch(v, pose_vertices(v, inpaint_weights(w, v, f, trusted, 0.01), T), f))
    assert hard["worst"] > 1.5 and soft["worst"] < hard["worst"]
    assert soft["over3x"] == 0
    assert stretch_summary(rigid) == {"worst": pytest.approx(1.0), "worst1pct_median": pytest.approx(1.0), "over3x": 0}
