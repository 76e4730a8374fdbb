"""Skin weights for an exported mesh: closest points on the body surface, weight smoothing over the mesh, linear blend
skinning and the edge-stretch measure that judges the result.

Weights are read where each mesh vertex's closest point on the canonical body surface falls (barycentric over that
triangle, so neighbouring vertices get continuous weights instead of jumping between nearest body vertices). Where
that reading is not trusted (the mesh far from the body, or facing another way than the body there: the web of
surface that marching cubes spans between the thighs or between arm and torso, a skirt), the weights are filled in
smoothly from the trusted ones over the exported mesh's own surface, and the trusted ones are smoothed over a few
centimetres (`inpaint_weights`): a web gets a gradual change of weights instead of a seam that tears when the
legs spread or the arm rises. `limit_influences` then keeps four joints a vertex without cutting new seams.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def closest_point_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (N x 3) of the point of each triangle (a, b, c: N x 3) closest to p (N x 3).

    The Voronoi-region test of Ericson, Real-Time Collision Detection 5.1.5, vectorised: regions are assigned from
    the lowest priority (inside the face) to the highest (vertex a), each later one overriding."""
    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c
    dot = lambda u, v: np.einsum("ij,ij->i", u, v)  # noqa: E731
    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    safe = lambda x: np.where(np.abs(x) < EPS, EPS, x)  # noqa: E731
    denom = safe(va + vb + vc)
    v, w = vb / denom, vc / denom
    bary = np.stack([1 - v - w, v, w], 1)

    def assign(mask: np.ndarray, coords: np.ndarray) -> None:
        bary[mask] = coords[mask]

    t = (d4 - d3) / safe((d4 - d3) + (d5 - d6))
    assign((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), np.stack([np.zeros_like(t), 1 - t, t], 1))  # edge bc
    t = d2 / safe(d2 - d6)
    assign((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - t, np.zeros_like(t), t], 1))  # edge ac
    one = np.ones_like(d1)
    assign((d6 >= 0) & (d5 <= d6), np.stack([0 * one, 0 * one, one], 1))  # vertex c
    t = d1 / safe(d1 - d3)
    assign((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - t, t, np.zeros_like(t)], 1))  # edge ab
    assign((d3 >= 0) & (d4 <= d3), np.stack([0 * one, one, 0 * one], 1))  # vertex b
    assign((d1 <= 0) & (d2 <= 0), np.stack([one, 0 * one, 0 * one], 1))  # vertex a
    return bary


def closest_points_on_mesh(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, k: int = 12,
                           chunk: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The closest point of a triangle mesh to each query point: (face index N, barycentric N x 3, distance N).

    Candidates are the triangles around the k mesh vertices nearest to each point: exact but for rare points in deep
    concavities, which get a triangle at most a millimetre farther on the body (tests compare with libigl's exact
    query).
    points N x 3, vertices M x 3, faces F x 3."""
    from scipy.spatial import cKDTree

    # vertex -> incident faces, padded to the largest valence with -1
    order = np.argsort(faces.reshape(-1), kind="stable")
    owner = (order // 3).astype(np.int64)
    counts = np.bincount(faces.reshape(-1), minlength=len(vertices))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    valence = int(counts.max())
    ring = np.full((len(vertices), valence), -1, dtype=np.int64)
    slot = np.arange(len(order)) - np.repeat(starts, counts)
    ring[np.repeat(np.arange(len(vertices)), counts), slot] = owner
    tree = cKDTree(vertices)
    k = min(k, len(vertices))
    face_out = np.empty(len(points), dtype=np.int64)
    bary_out = np.empty((len(points), 3))
    dist_out = np.empty(len(points))
    for s in range(0, len(points), chunk):
        p = points[s : s + chunk]
        _, near = tree.query(p, k=k)
        cand = ring[near.reshape(len(p), -1)].reshape(len(p), -1)  # n x (k * valence), -1 = none
        valid = cand >= 0
        rows, cols = np.nonzero(valid)
        f = cand[rows, cols]
        tri = vertices[faces[f]]  # m x 3 x 3
        bary = closest_point_on_triangles(p[rows], tri[:, 0], tri[:, 1], tri[:, 2])
        q = np.einsum("mk,mkd->md", bary, tri)
        d2 = np.full(cand.shape, np.inf)
        d2[rows, cols] = ((q - p[rows]) ** 2).sum(1)
        best = d2.argmin(1)
        flat = np.full(cand.shape, -1, dtype=np.int64)
        flat[rows, cols] = np.arange(len(rows))
        pick = flat[np.arange(len(p)), best]
        face_out[s : s + len(p)] = f[pick]
        bary_out[s : s + len(p)] = bary[pick]
        dist_out[s : s + len(p)] = np.sqrt(d2[np.arange(len(p)), best])
    return face_out, bary_out, dist_out


def transfer_weights(vertices: np.ndarray, body_vertices: np.ndarray, body_faces: np.ndarray,
                     body_weights: np.ndarray, normals: np.ndarray | None = None, max_distance: float = 0.05,
                     max_angle: float = 45.0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Skin weights at the closest point of the body surface: the barycentric blend of that triangle's vertex weights,
    and whether each is trusted: the point is within `max_distance` metres and (given the mesh's `normals`) the body
    faces the same way there within `max_angle` degrees. vertices N x 3, body_vertices M x 3, body_faces F x 3,
    body_weights M x J -> (N x J rows summing to 1, N bool)."""
    face, bary, dist = closest_points_on_mesh(vertices, body_vertices, body_faces)
    w = np.einsum("nk,nkj->nj", bary, body_weights[body_faces[face]])
    w = np.clip(w, 0, None)
    confident = dist <= max_distance
    if normals is not None:
        tri = body_vertices[body_faces[face]]
        fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), EPS)
        confident &= np.einsum("ij,ij->i", fn, normals) >= np.cos(np.deg2rad(max_angle))
    return w / np.maximum(w.sum(1, keepdims=True), EPS), confident


def graph_laplacian(vertices: np.ndarray, faces: np.ndarray):
    """The mesh's graph Laplacian with edge weights 1 / length^2 (scipy CSR, V x V): (L w)_i = sum_j c_ij (w_i - w_j),
    a discretisation of -2 x the surface Laplacian in metres^-2."""
    import scipy.sparse as sp

    e = mesh_edges(faces)
    c = 1.0 / np.maximum(np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1), 1e-5) ** 2
    n = len(vertices)
    W = sp.coo_matrix((np.concatenate([c, c]), (np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]]))),
                      shape=(n, n)).tocsr()  # fmt: skip
    return sp.diags(np.asarray(W.sum(1)).ravel()) - W


def inpaint_weights(weights: np.ndarray, vertices: np.ndarray, faces: np.ndarray, confident: np.ndarray,
                    radius: float = 0.02) -> np.ndarray:  # fmt: skip
    """Weights kept near their values where `confident` (V bool) and filled smoothly elsewhere: the minimiser of
    sum_confident |w - w0|^2 / radius^2 + sum_edges |w_i - w_j|^2 / length^2 (one sparse solve for all joints).
    Confident vertices keep their weights up to smoothing over about `radius` metres; the others (a web of surface
    bridging thighs or arm and torso, a skirt far from the legs) get the harmonic blend of their surroundings.
    weights V x J -> V x J, rows sum to 1."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    alpha = np.where(confident, 1.0 / radius**2, 1e-3)  # (m^-2) the tiny floor only anchors pieces with no trust
    A = (graph_laplacian(vertices, faces) + sp.diags(alpha)).tocsc()
    w = splu(A).solve(alpha[:, None] * weights)
    w = np.clip(w, 0, None)
    return w / np.maximum(w.sum(1, keepdims=True), EPS)


def limit_influences(weights: np.ndarray, vertices: np.ndarray, faces: np.ndarray, k: int = 4,
                     iterations: int = 30) -> np.ndarray:  # fmt: skip
    """At most k joints a vertex (what glTF's JOINTS_0 and game engines carry), without the seams that cutting the
    rest off would leave where neighbours keep different joints: keep each vertex's k largest, then `iterations` steps
    of diffusion over the mesh (the 1 / length^2 random walk) restricted to each vertex's own k joints.
    weights V x J -> V x J with at most k non-zeros a row, rows sum to 1."""
    import scipy.sparse as sp

    top = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    support = np.zeros(weights.shape, dtype=bool)
    np.put_along_axis(support, top, True, axis=1)
    w = np.where(support, weights, 0.0)
    w /= np.maximum(w.sum(1, keepdims=True), EPS)
    L = graph_laplacian(vertices, faces)
    deg = L.diagonal()
    walk = sp.diags(1.0 / np.maximum(deg, EPS)) @ (sp.diags(deg) - L)
    for _ in range(iterations):
        w = np.where(support, 0.5 * w + 0.5 * (walk @ w), 0.0)
        w /= np.maximum(w.sum(1, keepdims=True), EPS)
    return w


def pose_vertices(vertices: np.ndarray, weights: np.ndarray, joint_transforms: np.ndarray) -> np.ndarray:
    """Linear blend skinning: canonical vertices N x 3, weights N x J, joint transforms J x 4 x 4 (canonical -> posed)
    -> posed vertices N x 3."""
    M = np.einsum("nj,jab->nab", weights, joint_transforms)
    return np.einsum("nab,nb->na", M[:, :3, :3], vertices) + M[:, :3, 3]


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """The unique undirected edges of a triangle mesh, E x 2."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, 1), axis=0)


def edge_stretch(rest: np.ndarray, posed: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Posed over rest length of every mesh edge (E): 1 is rigid, 3 is an edge stretched to three times its length."""
    e = mesh_edges(faces)
    rest_len = np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=1)
    posed_len = np.linalg.norm(posed[e[:, 0]] - posed[e[:, 1]], axis=1)
    return posed_len / np.maximum(rest_len, EPS)


def stretch_summary(ratios: np.ndarray) -> dict[str, float]:
    """The numbers the benchmark prints: the worst edge, the median of the worst 1 %, and the count over 3x."""
    s = np.sort(ratios)[::-1]
    top = s[: max(1, len(s) // 100)]
    return {"worst": float(s[0]), "worst1pct_median": float(np.median(top)), "over3x": int((ratios > 3).sum())}
