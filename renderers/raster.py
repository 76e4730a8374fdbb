"""A pure-PyTorch z-buffer triangle rasteriser with per-vertex colours and simple (Gouraud, headlight) shading.

Made for small images of bodies (synthetic training data for the tiny prior, previews): every triangle is expanded
into the pixel centres of its bounding box, tested with edge functions, and the nearest fragment per pixel wins
(depth by `scatter_reduce(amin)`, ties broken by the highest fragment index so results are deterministic).
Triangles are grouped by bounding-box size so large triangles never blow up the candidate count of small ones.
Attributes are interpolated perspective-correctly; triangles are two-sided; triangles behind the near plane are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from renderers.cameras import Cameras, project


@dataclass
class RasterOutput:
    """rgb: B x 3 x H x W in [0, 1] (background where empty); mask: B x H x W bool; depth: B x H x W (inf where empty);
    face: B x H x W long, the index of the triangle seen at each pixel (-1 where empty)."""

    rgb: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    face: torch.Tensor | None = None


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals. vertices: B x V x 3, faces: F x 3 -> B x V x 3."""
    v0, v1, v2 = (vertices[:, faces[:, i]] for i in range(3))
    fn = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)  # B x F x 3, length = 2 x area
    n = torch.zeros_like(vertices)
    for i in range(3):
        n.index_add_(1, faces[:, i], fn)
    return torch.nn.functional.normalize(n, dim=-1)


def headlight_shading(
    vertices: torch.Tensor, faces: torch.Tensor, cams: Cameras, ambient: float = 0.45, diffuse: float = 0.55
) -> torch.Tensor:
    """Per-vertex brightness ambient + diffuse * |n . view direction| (a light at the camera). Returns B x V."""
    n = vertex_normals(vertices, faces)
    to_cam = torch.nn.functional.normalize(cams.centers.to(vertices)[:, None] - vertices, dim=-1)
    return ambient + diffuse * (n * to_cam).sum(-1).abs()


def _fragments(uv: torch.Tensor, z: torch.Tensor, faces: torch.Tensor, width: int, height: int, near: float):
    """Covered pixel centres of each triangle of one view. uv: V x 2, z: V. Returns (face ids P, pixel ids P,
    barycentric weights P x 3, depth P)."""
    fz = z[faces]  # F x 3
    fuv = uv[faces]  # F x 3 x 2
    keep = (fz > near).all(1)
    lo = torch.ceil(fuv.amin(1) - 0.5).clamp(min=0)
    hi = torch.floor(fuv.amax(1) - 0.5)
    hi = torch.minimum(hi, torch.tensor([width - 1.0, height - 1.0], dtype=uv.dtype, device=uv.device))
    ext = (hi - lo + 1).amax(1)  # F, candidate span (<= 0: covers no pixel centre)
    keep &= ext > 0
    out_f, out_p, out_b, out_d = [], [], [], []
    k = 1
    remaining = keep
    while remaining.any():
        sel = remaining & (ext <= k)
        remaining = remaining & ~sel
        idx = sel.nonzero().squeeze(1)
        if idx.numel():
            d = torch.arange(k, device=uv.device, dtype=uv.dtype)
            px = lo[idx, 0, None, None] + d[None, None, :]  # n x 1 x k
            py = lo[idx, 1, None, None] + d[None, :, None]  # n x k x 1
            px, py = torch.broadcast_tensors(px, py)
            inb = (px <= hi[idx, 0, None, None]) & (py <= hi[idx, 1, None, None])
            cx, cy = px + 0.5, py + 0.5
            a, b, c = fuv[idx, 0], fuv[idx, 1], fuv[idx, 2]  # n x 2

            def edge(p, q):  # signed area of (p, q, pixel centre), n x k x k
                return (q[:, 0, None, None] - p[:, 0, None, None]) * (cy - p[:, 1, None, None]) - (
                    q[:, 1, None, None] - p[:, 1, None, None]
                ) * (cx - p[:, 0, None, None])

            w0, w1, w2 = edge(b, c), edge(c, a), edge(a, b)
            area = w0 + w1 + w2
            inside = inb & (area.abs() > 1e-12)
            sgn = torch.sign(area)
            inside &= (w0 * sgn >= 0) & (w1 * sgn >= 0) & (w2 * sgn >= 0)
            bary = torch.stack([w0, w1, w2], -1) / torch.where(area.abs() > 1e-12, area, torch.ones_like(area))[..., None]
            ii = inside.nonzero(as_tuple=True)
            fi = idx[ii[0]]
            bary = bary[ii]
            # perspective-correct: interpolate 1/z in screen space
            inv = bary / fz[fi]
            depth = 1.0 / inv.sum(1)
            out_f.append(fi)
            out_p.append((py[ii] * width + px[ii]).long())
            out_b.append(inv * depth[:, None])
            out_d.append(depth)
        k *= 2
    if not out_f:
        e = torch.zeros(0, dtype=torch.long, device=uv.device)
        return e, e, torch.zeros(0, 3, dtype=uv.dtype, device=uv.device), torch.zeros(0, dtype=uv.dtype, device=uv.device)
    return torch.cat(out_f), torch.cat(out_p), torch.cat(out_b), torch.cat(out_d)


def cover(uv: torch.Tensor, faces: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, ...]:
    """The pixel centres each 2D triangle covers (for baking into a texture atlas): uv V x 2 in pixels, faces F x 3.
    Returns (face ids P, pixel ids P = row * width + column, barycentric weights P x 3)."""
    f, p, bary, _ = _fragments(uv, torch.ones_like(uv[:, 0]), faces, width, height, 0.0)
    return f, p, bary


def rasterize(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    colors: torch.Tensor,
    cams: Cameras,
    background: torch.Tensor | tuple[float, float, float] = (1.0, 1.0, 1.0),
    shading: bool = True,
    near: float = 1e-3,
) -> RasterOutput:
    """Render coloured meshes.

    vertices: B x V x 3 world; faces: F x 3 long; colors: B x V x 3 or V x 3 in [0, 1]; cams: B cameras.
    With `shading`, colours are multiplied by `headlight_shading`. Returns `RasterOutput` at the cameras' size.
    """
    B, W, H = vertices.shape[0], cams.width, cams.height
    faces = faces.long().to(vertices.device)
    colors = colors.to(vertices).expand(B, -1, 3)
    if shading:
        colors = colors * headlight_shading(vertices, faces, cams)[..., None]
    uv, z = project(vertices, cams)
    bg = torch.as_tensor(background, dtype=vertices.dtype, device=vertices.device)
    rgb = bg[:, None, None].expand(B, 3, H, W).clone()
    mask = torch.zeros(B, H * W, dtype=torch.bool, device=vertices.device)
    depth = torch.full((B, H * W), float("inf"), dtype=vertices.dtype, device=vertices.device)
    face = torch.full((B, H * W), -1, dtype=torch.long, device=vertices.device)
    for i in range(B):
        f, p, bary, d = _fragments(uv[i], z[i], faces, W, H, near)
        if f.numel() == 0:
            continue
        zbuf = torch.full((H * W,), float("inf"), dtype=d.dtype, device=d.device).scatter_reduce(0, p, d, "amin")
        win = d <= zbuf[p]
        frag = torch.arange(f.numel(), device=d.device)
        best = torch.full((H * W,), -1, dtype=torch.long, device=d.device)
        best = best.scatter_reduce(0, p[win], frag[win], "amax")
        hit = best >= 0
        bf = best[hit]
        col = (bary[bf, :, None] * colors[i][faces[f[bf]]]).sum(1)  # n x 3
        img = rgb[i].reshape(3, -1)
        img[:, hit] = col.T
        mask[i] = hit
        depth[i] = zbuf
        face[i, hit] = f[bf]
    return RasterOutput(rgb.clamp(0, 1), mask.reshape(B, H, W), depth.reshape(B, H, W), face.reshape(B, H, W))
