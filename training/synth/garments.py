"""Dressing a canonical body from a spec: which garment covers each body vertex, and garment meshes where a garment
leaves the body, all skinned to the 24 SMPL joints so they follow any pose.

Tight garments colour the body's own vertices (by `regions` coordinates: sleeves and lengths are the spec's resolved
values) and push them out along the normal by a thickness (jackets 1.5 cm, armour 3 cm, a space suit 5 cm). Meshes:
    tubes from the waist  skirt, kilt, tutu, dress, robe, kimono, tunic, coat (and an apron's front sheet): each slice
                          encloses the body's slice (its support function) plus a margin and a flare growing to the
                          hem; skinned from the pelvis at the waist to a blend of both hips lower down (up to 80 %,
                          by side), so the legs stay inside while walking
    sheets on the back    cape and cloak (from the shoulders, behind the back, flaring to the hem), wings (two)
    on the head           hats (brim + crown: hat, wide hat, top hat; cone: pointed hat; puff: chef hat), cap (dome +
                          visor), beanie, helmet, hood (shells around the head, the face left open), crown (a band
                          with spikes); rigid on the head joint
    hair                  long (a curtain from the back of the head down the back), ponytail, braids (tubes), bun
                          (a ball), afro and curly (shells); short and buzz colour the scalp only, bald nothing
A `Dressed` outfit lists looks (`Look`: colours, material, pattern, the label of the region) in slots: 0 skin,
1 hair, then one or more per garment.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import torch

from dreamavatar.body.skeleton import JOINT_INDEX as J
from dreamavatar.body.skeleton import NUM_JOINTS
from prompts.spec import REGIONS, Garment, Spec
from training.synth.regions import BodyFacts, directions, env_row

LABELS: tuple[str, ...] = ("background", "skin", "hair") + REGIONS  # the region label map's values, in this order
SKIN, HAIR = 0, 1


def label_of(region: str) -> int:
    return LABELS.index(region)


@dataclass
class Look:
    """How a slot is drawn: colour(s) (#rrggbb), material, pattern (with its random size / phase), region label."""

    color: str
    material: str = "cloth"
    pattern: str = "plain"
    color2: str | None = None
    label: int = 1
    pattern_size: float = 0.1
    pattern_phase: tuple[float, float, float] = (0.0, 0.0, 0.0)
    blocks_axis: int = 0  # blocks: 0 = left / right halves, 1 = top / bottom
    blocks_at: float = 0.0  # where the two blocks meet (x or y, canonical metres)
    plates: bool = False  # armour: darker seams between plates


@dataclass
class Piece:
    """One garment mesh in canonical space: vertices N x 3, faces F x 3, skinning weights N x 24, its slot."""

    vertices: torch.Tensor
    faces: torch.Tensor
    weights: torch.Tensor
    slot: int


@dataclass
class Dressed:
    """A dressed body: per body vertex (V) its slot and thickness (m); garment pieces; looks by slot."""

    body_slot: torch.Tensor
    body_offset: torch.Tensor
    pieces: list[Piece] = field(default_factory=list)
    looks: list[Look] = field(default_factory=list)


# ---- mesh helpers -----------------------------------------------------------------------------------------------
def grid_faces(rows: int, cols: int, wrap: bool) -> torch.Tensor:
    """Faces of a rows x cols vertex grid (row-major); wrap joins the last column to the first."""
    c = cols if wrap else cols - 1
    i = torch.arange(rows - 1)[:, None] * cols
    j = torch.arange(c)[None, :]
    a, b = i + j, i + (j + 1) % cols
    a2, b2 = a + cols, b + cols
    return torch.cat([torch.stack([a, b, b2], -1).reshape(-1, 3), torch.stack([a, b2, a2], -1).reshape(-1, 3)])


def smoothstep(e0: float, e1: float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - e0) / (e1 - e0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def rigid(n: int, joint: str) -> torch.Tensor:
    w = torch.zeros(n, NUM_JOINTS)
    w[:, J[joint]] = 1
    return w


def blend_weights(parts: list[tuple[str, torch.Tensor]]) -> torch.Tensor:
    """Weights N x 24 from (joint name, N weights) pairs (normalised to sum to one)."""
    n = parts[0][1].shape[0]
    w = torch.zeros(n, NUM_JOINTS)
    for name, x in parts:
        w[:, J[name]] += x
    return w / w.sum(1, keepdim=True).clamp(min=1e-8)


def revolve(radius: torch.Tensor, height: torch.Tensor, center: torch.Tensor, n: int = 24, cap: bool = True):
    """A surface of revolution about the vertical axis through `center` (x, z used): profile radius R, height R
    (rows); cap closes the last row with a fan. Returns (vertices R*n (+1) x 3, faces)."""
    u = directions(n)  # n x 2 (x, z)
    R = radius.shape[0]
    v = torch.zeros(R, n, 3)
    v[..., 0] = center[0] + radius[:, None] * u[None, :, 0]
    v[..., 1] = height[:, None]
    v[..., 2] = center[2] + radius[:, None] * u[None, :, 1]
    v = v.reshape(-1, 3)
    faces = grid_faces(R, n, wrap=True)
    if cap:
        tip = torch.tensor([[float(center[0]), float(height[-1]), float(center[2])]])
        k = v.shape[0]
        last = (R - 1) * n + torch.arange(n)
        faces = torch.cat([faces, torch.stack([last, (last + 1 - (R - 1) * n) % n + (R - 1) * n, torch.full((n,), k)], -1)])
        v = torch.cat([v, tip])
    return v, faces


def shell(center: torch.Tensor, radii: torch.Tensor, keep, rows: int = 14, cols: int = 24):
    """Part of an ellipsoid: vertices on a (polar, azimuth) grid; keep(rel N x 3 in [-1, 1]) -> N bool selects the
    faces whose three vertices are kept. Returns (vertices, faces) with unused vertices dropped."""
    pol = torch.linspace(0.0, math.pi, rows)
    az = torch.arange(cols) * (2 * math.pi / cols)
    rel = torch.stack([
        torch.sin(pol)[:, None] * torch.sin(az)[None], torch.cos(pol)[:, None].expand(rows, cols),
        torch.sin(pol)[:, None] * torch.cos(az)[None],
    ], -1).reshape(-1, 3)  # fmt: skip
    faces = grid_faces(rows, cols, wrap=True)
    ok = keep(rel)
    faces = faces[ok[faces].all(1)]
    used = torch.unique(faces)
    remap = torch.full((rel.shape[0],), -1, dtype=torch.long)
    remap[used] = torch.arange(used.numel())
    return center + rel[used] * radii, remap[faces]


def tube_along(path: torch.Tensor, radius: torch.Tensor, n: int = 8):
    """A closed tube around a polyline path (K x 3) with radii K. Returns (vertices K*n x 3, faces)."""
    d = torch.diff(path, dim=0)
    d = torch.cat([d, d[-1:]])
    d = d / d.norm(dim=1, keepdim=True)
    ref = torch.tensor([1.0, 0.0, 0.0]).expand_as(d)
    a = torch.nn.functional.normalize(torch.linalg.cross(d, ref, dim=-1), dim=-1)
    b = torch.linalg.cross(d, a, dim=-1)
    ang = torch.arange(n) * (2 * math.pi / n)
    ring = torch.cos(ang)[None, :, None] * a[:, None] + torch.sin(ang)[None, :, None] * b[:, None]
    v = path[:, None] + radius[:, None, None] * ring
    return v.reshape(-1, 3), grid_faces(path.shape[0], n, wrap=True)


# ---- geometry of loose garments ---------------------------------------------------------------------------------
def _hem_y(f: BodyFacts, length: float) -> float:
    """Height of a hem at leg coordinate `length` (0 = hip joints, 1 = ankles) on the canonical body."""
    hip = float(f.joints[[J["left_hip"], J["right_hip"]], 1].mean())
    knee = float(f.joints[[J["left_knee"], J["right_knee"]], 1].mean())
    ankle = float(f.joints[[J["left_ankle"], J["right_ankle"]], 1].mean())
    return hip + (knee - hip) * min(length, 0.5) * 2 + (ankle - knee) * max(length - 0.5, 0.0) * 2


def skirt_tube(f: BodyFacts, y_top: float, y_hem: float, flare: float, margin: float = 0.015, rows: int = 12,
               front_only: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """A tube (or, front_only, a front sheet) from y_top down to y_hem around the body's slices, radius growing
    by `flare` metres at the hem. Returns (vertices, faces, weights)."""
    u = directions()
    D = u.shape[0]
    y_hem = min(y_hem, y_top - 0.04)
    ys = torch.linspace(y_top, y_hem, rows)
    h = torch.stack([f.env_h[env_row(f, float(y))] for y in ys])  # rows x D
    # the convex support function encloses the slice: r >= h in every direction; non-decreasing down the tube
    r = torch.cummax(h + margin, 0).values
    t = torch.linspace(0, 1, rows)[:, None]
    r = r + flare * t**1.4
    if front_only:  # an apron: a flat sheet in front, as wide as the hips
        hw = float(h[:, D // 4].max()) * 0.8
        xs = torch.linspace(-hw, hw, 9)
        zf = f.z_center + r[:, 0:1].expand(rows, 9)
        v = torch.stack([xs[None].expand(rows, 9), ys[:, None].expand(rows, 9), zf], -1).reshape(-1, 3)
        faces = grid_faces(rows, 9, wrap=False)
        sx = xs[None].expand(rows, 9).reshape(-1)
    else:
        v = torch.stack([r * u[None, :, 0], ys[:, None].expand(rows, D), f.z_center + r * u[None, :, 1]], -1).reshape(-1, 3)
        faces = grid_faces(rows, D, wrap=True)
        sx = v[:, 0]
    hip_y = float(f.joints[[J["left_hip"], J["right_hip"]], 1].mean())
    knee_y = float(f.joints[[J["left_knee"], J["right_knee"]], 1].mean())
    q = ((hip_y - v[:, 1]) / (hip_y - knee_y)).clamp(0, 1.5)
    legs = 0.8 * smoothstep(0.0, 1.2, q)
    side = smoothstep(-0.08, 0.08, sx)
    w = blend_weights([("pelvis", 1 - legs + 1e-4), ("left_hip", legs * side), ("right_hip", legs * (1 - side))])
    return v, faces, w


def cape_sheet(f: BodyFacts, length: float, flare: float, wrap: float = 0.1, cols: int = 13, rows: int = 14,
               under: torch.Tensor | None = None):  # fmt: skip
    """A sheet hung from the shoulders behind the back down to leg coordinate `length`, widening by `flare` at the
    hem; its sides curve forward by `wrap` at the top. `under`: vertices (N x 3) of loose garments it must hang
    behind and cover (skirts, coats). Returns (vertices, faces, weights)."""
    y_top = f.y_shoulder + 0.03
    y_hem = _hem_y(f, length)
    ys = torch.linspace(y_top, y_hem, rows)
    back = torch.stack([f.env_back[env_row(f, float(y))] for y in ys])
    hw = f.shoulder_half + 0.05 + flare * torch.linspace(0, 1, rows) ** 1.2
    if under is not None and under.shape[0]:
        band = (under[None, :, 1] - ys[:, None]).abs() < 0.04  # rows x N
        big = torch.full_like(band, 9.0, dtype=under.dtype)
        back = torch.minimum(back, torch.where(band, under[None, :, 2], big).amin(1) - 0.01)
        hw = torch.maximum(hw, torch.where(band, under[None, :, 0].abs(), -big).amax(1) + 0.04)
    back = torch.cummin(back - 0.035, 0).values  # the sheet only moves back as it falls
    s = torch.linspace(-1, 1, cols)
    t = torch.linspace(0, 1, rows)[:, None]
    x = s[None] * hw[:, None]
    z = back[:, None] + (wrap * (1 - t) + 0.03) * s[None].abs() ** 2.5
    y = ys[:, None].expand(rows, cols) - 0.04 * (1 - t) * s[None].abs() ** 2  # drapes down over the shoulders
    v = torch.stack([x, y, z], -1).reshape(-1, 3)
    tt = t.expand(rows, cols).reshape(-1)
    ss = s[None].expand(rows, cols).reshape(-1)
    low = smoothstep(0.15, 0.6, tt)
    side = smoothstep(-0.3, 0.3, ss)
    top = 1 - low
    w = blend_weights([
        ("spine3", top * (1 - 0.5 * ss.abs())), ("left_collar", top * 0.5 * ss.clamp(min=0)),
        ("right_collar", top * 0.5 * (-ss).clamp(min=0)), ("spine1", low * 0.5), ("pelvis", low * 0.3),
        ("left_hip", low * 0.2 * side), ("right_hip", low * 0.2 * (1 - side)),
    ])  # fmt: skip
    return v, grid_faces(rows, cols, wrap=False), w


def wings(f: BodyFacts, span: float, g: random.Random):
    """Two sheets from the shoulder blades, spreading out and up. Returns (vertices, faces, weights)."""
    y0 = f.y_shoulder - 0.12
    z0 = float(f.env_back[env_row(f, y0)]) - 0.03
    verts, faces = [], []
    rows, cols = 6, 8
    lift = g.uniform(0.15, 0.4)
    for sgn in (1.0, -1.0):
        s = torch.linspace(0, 1, cols)  # along the span
        t = torch.linspace(0, 1, rows)[:, None]  # from the leading (top) edge down
        x = sgn * (0.05 + span * s[None])
        top = y0 + lift * torch.sin(s * math.pi * 0.8)[None]
        chord = 0.5 * (1 - 0.6 * s[None])
        y = top - t * chord
        z = z0 - 0.05 - 0.25 * s[None] - 0.05 * t
        v = torch.stack([x.expand(rows, cols), y, z.expand(rows, cols)], -1).reshape(-1, 3)
        faces.append(grid_faces(rows, cols, wrap=False) + sum(p.shape[0] for p in verts))
        verts.append(v)
    v = torch.cat(verts)
    return v, torch.cat(faces), rigid(v.shape[0], "spine3")


def hat_mesh(f: BodyFacts, kind: str, g: random.Random):
    """Headwear above the head (hats, crown, helmet, hood, cap, beanie). Returns (vertices, faces) on the head."""
    c, rad = f.head_center, f.head_radii
    top = f.head_top
    ring = float(max(rad[0], rad[2])) * 1.04 + 0.005  # clears the head at the hat band
    y_band = top - 0.62 * float(rad[1])
    axis = c.clone()
    axis[2] = c[2] - 0.1 * rad[2]
    if kind in ("hat", "wide hat", "top hat"):
        brim = {"hat": g.uniform(0.05, 0.08), "wide hat": g.uniform(0.14, 0.22), "top hat": g.uniform(0.04, 0.06)}[kind]
        crown_h = {"hat": g.uniform(0.08, 0.12), "wide hat": g.uniform(0.06, 0.1), "top hat": g.uniform(0.18, 0.26)}[kind]
        r_c = ring * (0.96 if kind != "top hat" else 0.98)
        radius = torch.tensor([ring + brim, ring + brim * 0.5, r_c, r_c, r_c * (1.04 if kind == "top hat" else 0.92)])
        height = torch.tensor([y_band - 0.01 * (kind == "wide hat"), y_band, y_band + 0.005, top + crown_h * 0.7, top + crown_h])
        return revolve(radius, height, axis)
    if kind == "pointed hat":
        brim = g.uniform(0.07, 0.14)
        tall = g.uniform(0.3, 0.45)
        radius = torch.tensor([ring + brim, ring, ring * 0.75, ring * 0.35, 0.01])
        height = torch.tensor([y_band, y_band + 0.01, top + tall * 0.25, top + tall * 0.65, top + tall])
        v, fc = revolve(radius, height, axis)
        v[:, 2] -= 0.15 * ((v[:, 1] - top).clamp(min=0) / tall) ** 2  # the tip leans back
        return v, fc
    if kind == "chef hat":
        tall = g.uniform(0.2, 0.28)
        radius = torch.tensor([ring, ring, ring * 1.25, ring * 1.3, ring * 1.1])
        height = torch.tensor([y_band, top + 0.02, top + tall * 0.7, top + tall * 0.92, top + tall])
        return revolve(radius, height, axis)
    if kind == "crown":
        n = 24
        radius = torch.tensor([ring * 0.92, ring * 0.95, ring * 0.98])
        height = torch.tensor([top - 0.04, top + 0.02, top + 0.05])
        v, fc = revolve(radius, height, axis, n=n, cap=False)
        spikes = (torch.arange(n) % 4 == 0).float()  # six points
        v[2 * n :, 1] += 0.06 * spikes - 0.025 * (1 - spikes)
        return v, fc
    if kind == "helmet":
        up = c + torch.tensor([0.0, 0.02, -0.005])
        return shell(up, rad * 1.25 + 0.015, lambda r: (r[:, 1] > -0.35) & ~((r[:, 2] > 0.3) & (r[:, 1] < 0.3)))
    if kind == "hood":
        up = c + torch.tensor([0.0, 0.0, -0.02])
        return shell(up, rad * torch.tensor([1.3, 1.22, 1.3]) + 0.01,
                     lambda r: (r[:, 1] > -0.95) & ~((r[:, 2] > 0.2) & (r[:, 1] < 0.55) & (r[:, 0].abs() < 0.75)))  # fmt: skip
    if kind == "beanie":
        return shell(c + torch.tensor([0.0, 0.015, 0.0]), rad * 1.12 + 0.008, lambda r: r[:, 1] > -0.05 + 0.35 * r[:, 2].clamp(min=0))
    if kind == "cap":
        v1, f1 = shell(c + torch.tensor([0.0, 0.01, 0.0]), rad * 1.11 + 0.006, lambda r: r[:, 1] > 0.12 + 0.25 * r[:, 2].clamp(min=0))
        # the visor: a flat half-disc in front at the brow
        ang = torch.linspace(-math.pi / 2, math.pi / 2, 9)
        yv = float(c[1] + rad[1] * 0.3)
        inner = torch.stack([c[0] + rad[0] * 0.95 * torch.sin(ang), torch.full_like(ang, yv), c[2] + rad[2] * 0.95 * torch.cos(ang)], -1)
        outer = inner.clone()
        outer[:, 2] += g.uniform(0.05, 0.08) * torch.cos(ang).clamp(min=0.3)
        outer[:, 1] -= 0.01
        v2 = torch.cat([inner, outer])
        f2 = grid_faces(2, 9, wrap=False) + v1.shape[0]
        return torch.cat([v1, v2]), torch.cat([f1, f2])
    raise KeyError(kind)


def hair_pieces(f: BodyFacts, style: str, g: random.Random) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Hair meshes of a style (none for bald, buzz and short). Returns [(vertices, faces, weights)]."""
    c, rad = f.head_center, f.head_radii
    out = []
    if style == "afro":
        s = g.uniform(1.45, 1.75)
        v, fc = shell(c + torch.tensor([0.0, 0.3, -0.15]) * rad, rad * torch.tensor([s, s * 0.85, s * 0.95]),
                      lambda r: ~((r[:, 2] > 0.35) & (r[:, 1] < 0.25)) & (r[:, 1] > -0.7))  # fmt: skip
        out.append((v, fc, rigid(v.shape[0], "head")))
    elif style == "curly":
        v, fc = shell(c + torch.tensor([0.0, 0.1, -0.05]) * rad, rad * 1.18,
                      lambda r: ~((r[:, 2] > 0.2) & (r[:, 1] < 0.4)) & (r[:, 1] > -0.3 - 0.5 * (r[:, 2] < 0)))  # fmt: skip
        out.append((v, fc, rigid(v.shape[0], "head")))
    elif style == "bun":
        r = g.uniform(0.04, 0.06)
        v, fc = shell(c + torch.tensor([0.0, 0.75, -0.6]) * rad, torch.tensor([r, r * 0.9, r]), lambda q: q[:, 0] == q[:, 0], rows=8, cols=12)
        out.append((v, fc, rigid(v.shape[0], "head")))
    elif style in ("long", "ponytail", "braids"):
        # the hair over the back of the head, a little out from the scalp
        v, fc = shell(c + torch.tensor([0.0, 0.04, -0.06]) * rad, rad * 1.07 + 0.004,
                      lambda r: (r[:, 2] < 0.25) & (r[:, 1] > -0.55) | (r[:, 1] > 0.45))  # fmt: skip
        out.append((v, fc, rigid(v.shape[0], "head")))
        back_y = f.y_neck
        if style == "long":
            y_hem = f.y_shoulder - g.uniform(0.05, 0.32)
            rows, cols = 10, 11
            ys = torch.linspace(float(c[1]), y_hem, rows)
            t = torch.linspace(0, 1, rows)[:, None]
            back = torch.stack([f.env_back[env_row(f, float(y))] for y in ys])
            z_back = torch.where(ys < back_y, back - 0.02, torch.full_like(ys, float(c[2] - rad[2] * 1.1)))
            z_back = torch.cummin(torch.minimum(z_back, torch.tensor(float(c[2] - rad[2] * 0.9))), 0).values
            s = torch.linspace(-1, 1, cols)[None]
            hw = float(rad[0]) * (1.15 + 0.35 * t)
            x = s * hw
            z = z_back[:, None] + (0.9 * float(rad[2]) * (1 - t) + 0.03) * (1 - torch.cos(s * math.pi / 2))
            y = ys[:, None].expand(rows, cols)
            v = torch.stack([x, y, z], -1).reshape(-1, 3)
            low = smoothstep(float(back_y) + 0.02, float(back_y) - 0.08, v[:, 1])
            w = blend_weights([("head", 1 - low + 1e-4), ("spine3", low)])
            out.append((v, grid_faces(rows, cols, wrap=False), w))
        else:
            length = g.uniform(0.18, 0.35) if style == "ponytail" else g.uniform(0.22, 0.4)
            roots = [torch.tensor([0.0, 0.35, -1.05])] if style == "ponytail" else [
                torch.tensor([0.75, -0.3, -0.75]), torch.tensor([-0.75, -0.3, -0.75])]  # fmt: skip
            for root in roots:
                p0 = c + root * rad
                k = 8
                t = torch.linspace(0, 1, k)[:, None]
                out_dir = torch.tensor([0.0, 0.0, -1.0]) * 0.05
                path = p0 + t * torch.tensor([0.0, -length, 0.0]) + torch.sin(t * math.pi / 2) * out_dir
                back = torch.stack([f.env_back[env_row(f, float(y))] for y in path[:, 1]]) - 0.03
                path[:, 2] = torch.minimum(path[:, 2], torch.where(path[:, 1] < back_y, back, path[:, 2]))
                radius = (0.03 if style == "ponytail" else 0.018) * (1 - 0.5 * t[:, 0])
                v, fc = tube_along(path, radius)
                low = smoothstep(float(back_y) + 0.03, float(back_y) - 0.1, v[:, 1])
                out.append((v, fc, blend_weights([("head", 1 - low + 1e-4), ("spine3", low)])))
    return out


# ---- per-vertex coverage of tight garments ----------------------------------------------------------------------
_THICK = {
    "top": 0.004, "outer": 0.015, "full": 0.006, "bottom": 0.006, "feet": 0.01, "hands": 0.004, "head": 0.006,
}  # fmt: skip
_THICK_KIND = {"armor": 0.03, "space suit": 0.05, "coat": 0.02, "gauntlets": 0.015, "boots": 0.012, "leggings": 0.002,
               "wetsuit": 0.003, "bodysuit": 0.002, "beanie": 0.012, "vest": 0.012, "jeans": 0.007}  # fmt: skip
# Kinds drawn with a tube from the waist (when their length reaches below the hips), with (flare lo, hi) in metres.
_TUBE_FLARE = {"skirt": (0.02, 0.2), "kilt": (0.01, 0.06), "tutu": (0.18, 0.3), "dress": (0.03, 0.25),
               "robe": (0.04, 0.15), "kimono": (0.0, 0.06), "tunic": (0.01, 0.06), "coat": (0.02, 0.1),
               "apron": (0.0, 0.02)}  # fmt: skip


def _upper_cut(f: BodyFacts, drop: float) -> torch.Tensor:
    """Torso and lower neck above the waist line lowered by `drop` metres."""
    v = f.vertices
    neck_lo = (f.part == 5) & (v[:, 1] < f.y_shoulder + 0.45 * (f.y_neck - f.y_shoulder) + 0.02)
    return ((f.part == 0) & (v[:, 1] > f.y_waist - drop)) | neck_lo


def _vee(f: BodyFacts) -> torch.Tensor:
    """The V at the neck of a jacket (front, upper chest)."""
    v = f.vertices
    return (f.part == 0) & (v[:, 2] > f.z_center) & (v[:, 0].abs() < 0.05) & (v[:, 1] > f.y_shoulder - 0.16)


def coverage(f: BodyFacts, gm: Garment) -> torch.Tensor:
    """Body vertices (V bool) a garment colours."""
    v, kind = f.vertices, gm.kind
    sleeves = gm.resolved_sleeves() or 0.0
    length = gm.resolved_length()
    arms = (f.part == 1) & (f.arm < sleeves) if sleeves > 0 else torch.zeros_like(f.torso)
    region = gm.region
    if region == "top":
        drop = -0.35 * (f.y_shoulder - f.y_waist) if kind == "crop top" else 0.05
        m = _upper_cut(f, drop) | arms
        if kind in ("turtleneck", "hoodie"):
            m |= (f.part == 5) & (v[:, 1] < f.y_neck + 0.03)
        if sleeves == 0:  # bare shoulders
            m &= ~((f.part == 0) & (v[:, 0].abs() > 0.8 * f.shoulder_half) & (v[:, 1] > f.y_shoulder - 0.07))
        return m
    if region == "outer":
        if kind == "apron":
            front = v[:, 2] > f.z_center + 0.02
            return (f.part == 0) & front & (v[:, 1] < f.y_shoulder - 0.1)
        m = _upper_cut(f, 0.1) | arms
        m &= ~_vee(f)  # open at the neck: the top shows
        if kind in ("coat",) and length is not None:
            m |= (f.part == 3) & (f.leg < length)
        return m
    if region == "bottom":
        m = (f.part == 0) & (v[:, 1] <= f.y_waist + 0.01)
        if kind not in ("skirt", "tutu", "kilt"):
            m |= (f.part == 3) & (f.leg < (length if length is not None else 1.0))
        return m
    if region == "full":
        if kind == "overalls":
            bib = (f.part == 0) & (v[:, 1] < f.y_shoulder - 0.1) & ((v[:, 2] > f.z_center) | (v[:, 1] < f.y_waist + 0.05))
            return bib | ((f.part == 0) & (v[:, 1] <= f.y_waist)) | ((f.part == 3) & (f.leg < (length or 1.0)))
        m = _upper_cut(f, 0.5) | arms | (f.part == 0)
        if kind in ("dress", "robe", "kimono"):
            return m
        m |= (f.part == 3) & (f.leg < (length if length is not None else 1.0))
        if kind in ("armor", "space suit", "wetsuit", "bodysuit"):
            m |= (f.part == 5) & (v[:, 1] < f.y_neck + 0.02)
        if kind == "space suit":
            m |= (f.part == 1) | (f.part == 2) | (f.part == 3) | (f.part == 4)
        return m
    if region == "feet":
        top = {"boots": 0.72, "sandals": 1.2}.get(kind, 0.96)
        m = ((f.part == 3) | (f.part == 4)) & (f.leg > top)
        if kind == "sandals":
            m |= (f.part == 4) & (v[:, 1] < float(v[f.part == 4, 1].min()) + 0.025)
        return m
    if region == "hands":
        return ((f.part == 1) | (f.part == 2)) & (f.arm > (0.78 if kind == "gauntlets" else 0.97))
    if region == "head":
        if kind == "mask":
            return (f.part == 6) | ((f.part == 5) & (v[:, 1] > f.y_shoulder + 0.5 * (f.y_neck - f.y_shoulder)))
        if kind in ("beanie", "cap", "helmet"):
            return f.scalp
        return torch.zeros_like(f.torso)
    return torch.zeros_like(f.torso)  # back pieces are meshes only


def _look(gm: Garment, g: random.Random, f: BodyFacts, covered_y: torch.Tensor | None) -> Look:
    mid = float(covered_y.median()) if covered_y is not None and covered_y.numel() else 0.0
    return Look(
        color=gm.color, material=gm.material, pattern=gm.pattern, color2=gm.color2, label=label_of(gm.region),
        pattern_size=g.uniform(0.08, 0.12) if gm.pattern != "dots" else g.uniform(0.11, 0.14),
        pattern_phase=(g.uniform(0, 1), g.uniform(0, 1), g.uniform(0, 1)), blocks_axis=int(g.random() < 0.5),
        blocks_at=mid, plates=gm.kind == "armor",
    )  # fmt: skip


# Painting order (later covers earlier) of the regions on the body.
_ORDER = ("bottom", "top", "full", "outer", "feet", "hands", "head", "back")


def dress(f: BodyFacts, spec: Spec, g: random.Random) -> Dressed:
    """Dress a canonical body (its facts) as the spec says. Random choices (flare, hat sizes, pattern phases) from g."""
    V = f.vertices.shape[0]
    slot = torch.full((V,), SKIN, dtype=torch.long)
    offset = torch.zeros(V)
    looks = [Look(spec.skin.color, "skin", label=label_of("skin")),
             Look(spec.hair.color if spec.hair else "#000000", "hair", label=label_of("hair"))]  # fmt: skip
    pieces: list[Piece] = []

    def add_piece(v, fc, w, s):
        pieces.append(Piece(v.float(), fc.long(), w.float(), s))

    # hair first: headwear is painted over it (and flattens volume hair under anything but a mask or crown)
    style = spec.hair.style if spec.hair else "bald"
    head = spec.garment("head")
    if style in ("afro", "curly") and head is not None and head.kind not in ("mask", "crown"):
        style = "short"
    if style != "bald":
        slot[f.scalp] = HAIR
        offset[f.scalp] = {"buzz": 0.0, "short": 0.008, "curly": 0.015}.get(style, 0.005)
        for v, fc, w in hair_pieces(f, style, g):
            add_piece(v, fc, w, HAIR)

    garments = sorted(spec.garments, key=lambda gm: _ORDER.index(gm.region))
    for gm in garments:
        s = len(looks)
        m = coverage(f, gm)
        kind = gm.kind
        meshes: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        length = gm.resolved_length()
        if kind in _TUBE_FLARE and length is not None and (gm.info.loose == "below_hips" or kind == "apron"):
            lo, hi = _TUBE_FLARE[kind]
            flare = g.uniform(lo, hi) * (0.4 + 0.6 * min(1.0, length / 0.5)) if kind != "tutu" else g.uniform(lo, hi)
            y_top = f.y_waist + (0.02 if kind != "tutu" else -0.02)
            y_hem = _hem_y(f, length) if kind != "tutu" else _hem_y(f, 0.0) - g.uniform(0.03, 0.08)
            margin = 0.03 if gm.region == "outer" else 0.018 if gm.region == "full" else 0.012
            meshes.append(skirt_tube(f, y_top, y_hem, flare, margin, front_only=kind == "apron"))
        elif kind in ("cape", "cloak"):
            flare = g.uniform(0.04, 0.14) if kind == "cape" else g.uniform(0.08, 0.18)
            under = [p.vertices for p in pieces if p.slot != HAIR]
            meshes.append(cape_sheet(f, length if length is not None else 0.8, flare, wrap=g.uniform(0.03, 0.08),
                                     under=torch.cat(under) if under else None))  # fmt: skip
        elif kind == "wings":
            meshes.append(wings(f, g.uniform(0.5, 0.9), g))
        elif gm.region == "head" and kind != "mask":
            v, fc = hat_mesh(f, kind, g)
            meshes.append((v, fc, rigid(v.shape[0], "head")))
        slot[m] = s
        th = _THICK_KIND.get(kind, _THICK.get(gm.region, 0.005))
        offset[m] = th
        ys = [f.vertices[m, 1]] + [mv[:, 1] for mv, _, _ in meshes]
        looks.append(_look(gm, g, f, torch.cat(ys)))
        for v, fc, w in meshes:
            add_piece(v, fc, w, s)
        if kind == "suit" and g.random() < 0.8:  # a light shirt in the V of the jacket
            slot[_vee(f)] = len(looks)
            looks.append(Look("#f2f2f0", "cloth", label=label_of("top")))
    return Dressed(slot, offset, pieces, looks)
