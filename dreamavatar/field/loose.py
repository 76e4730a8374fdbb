"""Room for loose garments: where a spec's skirts, dresses, capes, hats and armour may leave the body.

The avatar's density is tied to the body (w = sigmoid(-(d^2 - delta) / tau), about 0.08 at 5 cm from the skin), and
the silhouette terms of the tiny preset pull the opacity to 0 farther than a 2 cm margin from the body's silhouette.
Both would cut a dress back to the legs. For each garment whose kind leaves the body (`prompts.spec.KindInfo.loose`)
this module builds a simple volume in canonical space, from the canonical body's joints and extent:

    below_hips   an elliptic frustum around both legs, from the waist (skirts, dresses, robes) or the hips (coats)
                 down to the hem the garment's length puts between hips (0) and ankles (1), flaring outwards
    behind_back  a slab behind the back from the shoulders down to the hem (capes, cloaks; wider for wings)
    above_head   a cylinder over the head (hats, helmets, hoods, crowns), taller for top and pointed hats
    around_body  a uniform extra reach around the whole body (armour, space suits)

Inside these volumes (tested on the canonical point of a sample) delta is raised so that w is about 0.95
(`delta_floor`), the occupancy grid and the nearest-vertex search reach them, and their posed silhouettes join the
body's in the silhouette terms' free band. The posed volumes follow the body by the canonical -> posed transform of
their nearest canonical body vertex, as everything else in the avatar does (no mesh binding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from dreamavatar.body.base import BodyOutput
from dreamavatar.body.skeleton import JOINT_INDEX
from prompts.spec import Spec

# kind -> (flare: extra radius per metre of length below the top, top: "waist" | "hips") for below_hips kinds
_FLARE = {"tutu": (2.2, "waist"), "coat": (0.25, "hips"), "robe": (0.3, "waist"), "kimono": (0.25, "waist"),
          "tunic": (0.3, "waist"), "kilt": (0.3, "waist")}  # fmt: skip
_HAT_HEIGHT = {"top hat": 0.25, "pointed hat": 0.35, "chef hat": 0.28, "helmet": 0.1, "crown": 0.12, "hood": 0.1}
_HAT_RADIUS = {"wide hat": 0.24, "hat": 0.1}  # extra radius beyond the head's half width
_AROUND = {"armor": 0.04, "space suit": 0.06}
_LEGS = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
_BACK = ("pelvis", "spine1", "spine2", "spine3", "neck", "left_collar", "right_collar")
_HEAD = ("head",)
_HIPS = ("pelvis", "left_hip", "right_hip", "spine1")


@dataclass
class LooseConfig:
    """weight: w inside the volumes (delta = d^2 + tau * logit(weight)); flare: default skirt flare (m per m)."""

    enabled: bool = True
    weight: float = 0.95
    flare: float = 0.35
    margin: float = 0.02  # metres added around every volume


@dataclass
class LooseVolumes:
    """Canonical-space volumes. frustums: rows (y_top, y_bottom, rx_top, rx_bottom, rz_top, rz_bottom, cx, cz);
    boxes: rows (x0, y0, z0, x1, y1, z1); cylinders: rows (cx, cz, r, y0, y1); around: extra reach (m)."""

    frustums: list[tuple[float, ...]] = field(default_factory=list)
    boxes: list[tuple[float, ...]] = field(default_factory=list)
    cylinders: list[tuple[float, ...]] = field(default_factory=list)
    around: float = 0.0

    def carriers(self) -> list[tuple[str, ...]]:
        """The body joints whose vertices carry each volume's surface (`surface` order: frustums, cylinders, boxes):
        a skirt follows the legs and hips, a hat the head, a cape the back."""
        return [_LEGS] * len(self.frustums) + [_HEAD] * len(self.cylinders) + [_BACK] * len(self.boxes)

    def __bool__(self) -> bool:
        return bool(self.frustums or self.boxes or self.cylinders or self.around > 0)

    def inside(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 canonical points -> N bool: inside any volume (not counting `around`)."""
        hit = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        px, py, pz = x[:, 0], x[:, 1], x[:, 2]
        for y0, y1, rx0, rx1, rz0, rz1, cx, cz in self.frustums:
            s = ((y0 - py) / max(y0 - y1, 1e-6)).clamp(0, 1)
            rx, rz = rx0 + s * (rx1 - rx0), rz0 + s * (rz1 - rz0)
            hit |= (py <= y0) & (py >= y1) & (((px - cx) / rx) ** 2 + ((pz - cz) / rz) ** 2 <= 1)
        for x0, y0, z0, x1, y1, z1 in self.boxes:
            hit |= (px >= x0) & (px <= x1) & (py >= y0) & (py <= y1) & (pz >= z0) & (pz <= z1)
        for cx, cz, r, y0, y1 in self.cylinders:
            hit |= (py >= y0) & (py <= y1) & ((px - cx) ** 2 + (pz - cz) ** 2 <= r * r)
        return hit

    def surface(self, step: float = 0.03) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Closed triangle meshes of the volumes (canonical space, about `step` metres apart) for silhouettes and
        occupancy. -> (vertices P x 3, faces F x 3 long, volume index P long); empty tensors when there are none."""
        parts: list[tuple[torch.Tensor, torch.Tensor]] = []
        for y0, y1, rx0, rx1, rz0, rz1, cx, cz in self.frustums:
            parts.append(_tube([y0, y1], [rx0, rx1], [rz0, rz1], cx, cz, step))
        for cx, cz, r, y0, y1 in self.cylinders:
            parts.append(_tube([y1, y0], [r, r], [r, r], cx, cz, step))
        for box in self.boxes:
            parts.append(_box(box, step))
        verts, faces, which, n = [], [], [], 0
        for i, (v, f) in enumerate(parts):
            verts.append(v)
            faces.append(f + n)
            which.append(torch.full((v.shape[0],), i, dtype=torch.long))
            n += v.shape[0]
        if not verts:
            return torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        return torch.cat(verts), torch.cat(faces), torch.cat(which)

    def max_reach(self, canonical_vertices: torch.Tensor) -> float:
        """The farthest any volume point lies from the nearest body vertex (m): how far deformation queries must
        look. canonical_vertices: V x 3."""
        pts = self.surface(0.05)[0]
        reach = self.around
        if pts.numel():
            d = torch.cdist(pts, canonical_vertices.float()).min(1).values
            reach = max(reach, float(d.max()))
        return reach


def _tube(ys, rxs, rzs, cx, cz, step) -> tuple[torch.Tensor, torch.Tensor]:
    """A closed elliptic frustum from ys[0] (top) to ys[1] (bottom)."""
    r_max = max(max(rxs), max(rzs))
    seg = max(12, int(math.ceil(2 * math.pi * r_max / step)))
    rings = max(2, int(math.ceil(abs(ys[0] - ys[1]) / step)) + 1)
    s = torch.linspace(0, 1, rings)[:, None]
    a = torch.arange(seg) * (2 * math.pi / seg)
    y = ys[0] + s * (ys[1] - ys[0])
    rx, rz = rxs[0] + s * (rxs[1] - rxs[0]), rzs[0] + s * (rzs[1] - rzs[0])
    ring = torch.stack([cx + rx * torch.cos(a), y.expand(-1, seg), cz + rz * torch.sin(a)], -1).reshape(-1, 3)
    caps = torch.tensor([[cx, ys[0], cz], [cx, ys[1], cz]])
    v = torch.cat([ring, caps])
    i = torch.arange(rings - 1)[:, None] * seg
    j = torch.arange(seg)[None]
    a0, a1, b0, b1 = i + j, i + (j + 1) % seg, i + seg + j, i + seg + (j + 1) % seg
    side = torch.cat([torch.stack([a0, b0, a1], -1), torch.stack([a1, b0, b1], -1)]).reshape(-1, 3)
    top, bottom = rings * seg, rings * seg + 1
    last = (rings - 1) * seg
    cap_t = torch.stack([torch.full((seg,), top), (j[0] + 1) % seg, j[0]], -1)
    cap_b = torch.stack([torch.full((seg,), bottom), last + j[0], last + (j[0] + 1) % seg], -1)
    return v.float(), torch.cat([side, cap_t, cap_b]).long()


def _box(b, step) -> tuple[torch.Tensor, torch.Tensor]:
    """A box as a closed mesh, its faces subdivided about `step` apart (so silhouettes and occupancy are dense)."""
    import trimesh

    lo, hi = torch.tensor(b[:3]), torch.tensor(b[3:])
    mesh = trimesh.creation.box(extents=(hi - lo).tolist())
    mesh.apply_translation(((hi + lo) / 2).tolist())
    while mesh.edges_unique_length.max() > step:
        mesh = mesh.subdivide()
    return torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces, dtype=torch.long)


def loose_volumes(spec: Spec | None, canonical: BodyOutput, cfg: LooseConfig | None = None) -> LooseVolumes:
    """The volumes where the spec's loose garments may leave the canonical body (B = 1)."""
    cfg = cfg or LooseConfig()
    vol = LooseVolumes()
    if spec is None or not cfg.enabled:
        return vol
    v, J = canonical.vertices[0].float(), canonical.joints[0].float()
    j = {n: J[JOINT_INDEX[n]] for n in ("pelvis", "spine1", "left_hip", "right_hip", "left_ankle", "right_ankle",
                                         "neck", "head", "left_shoulder", "right_shoulder")}  # fmt: skip
    hip_y = float((j["left_hip"][1] + j["right_hip"][1]) / 2)
    waist_y = float(j["pelvis"][1] + 0.6 * (j["spine1"][1] - j["pelvis"][1]))
    ankle_y = float((j["left_ankle"][1] + j["right_ankle"][1]) / 2)
    shoulder_y = float((j["left_shoulder"][1] + j["right_shoulder"][1]) / 2)
    cz = float(j["pelvis"][2])
    dominant = canonical.weights.argmax(1)
    on = lambda names: torch.isin(dominant, torch.tensor([JOINT_INDEX[n] for n in names]))  # noqa: E731
    band = v[on(_HIPS) & (v[:, 1] > hip_y - 0.05) & (v[:, 1] < waist_y + 0.02)]
    torso = v[on(_BACK) & (v[:, 1] > hip_y) & (v[:, 1] < shoulder_y)]
    head = v[on(_HEAD)]
    shoulders = v[on(_BACK) & (v[:, 1] > shoulder_y - 0.1)]
    top_y = float(v[:, 1].max())
    m = cfg.margin
    for g in spec.garments:
        info = g.info
        if info.loose == "below_hips":
            flare, top = _FLARE.get(g.kind, (cfg.flare, "waist"))
            y0 = waist_y if top == "waist" else hip_y
            length = g.resolved_length() if g.resolved_length() is not None else 0.5
            y1 = hip_y - length * (hip_y - ankle_y) - 0.03
            rx0 = float(band[:, 0].abs().max()) + m
            rz0 = float((band[:, 2] - cz).abs().max()) + m
            grow = flare * (y0 - y1)
            vol.frustums.append((y0, y1, rx0, rx0 + grow, rz0, rz0 + 0.8 * grow, 0.0, cz))
        elif info.loose == "behind_back":
            back_z = float(torso[:, 2].min())
            wide = 0.6 if g.kind == "wings" else float(shoulders[:, 0].abs().max()) + 0.03
            length = g.resolved_length() if g.resolved_length() is not None else 0.8
            y1 = shoulder_y - length * (shoulder_y - ankle_y) - 0.03
            y_top = shoulder_y + (0.35 if g.kind == "wings" else 0.05)
            depth = 0.3 if g.kind == "wings" else 0.15
            vol.boxes.append((-wide - m, y1, back_z - depth, wide + m, y_top, back_z + 0.05))
        elif info.loose == "above_head":
            hx, hz = float(head[:, 0].mean()), float(head[:, 2].mean())
            r = float((head[:, [0, 2]] - torch.tensor([hx, hz])).norm(dim=1).max()) + _HAT_RADIUS.get(g.kind, 0.04)
            vol.cylinders.append((hx, hz, r + m, top_y - 0.12, top_y + _HAT_HEIGHT.get(g.kind, 0.15) + m))
        elif info.loose == "around_body":
            vol.around = max(vol.around, _AROUND.get(g.kind, 0.04))
    return vol


class LooseRegions:
    """The volumes of one spec on one body, ready for the deformation (delta floor) and for posed silhouettes.

    canonical: the body's canonical output (B = 1). The volumes' surface points follow the body by the transform of
    their nearest canonical vertex."""

    def __init__(self, volumes: LooseVolumes, canonical: BodyOutput, cfg: LooseConfig | None = None):
        self.cfg = cfg or LooseConfig()
        self.volumes = volumes
        self.logit = math.log(self.cfg.weight / (1 - self.cfg.weight))
        verts, self.faces, which = volumes.surface()
        self.verts = verts
        cv = canonical.vertices[0].float().cpu()
        self.anchor = torch.zeros(verts.shape[0], dtype=torch.long)
        dominant = canonical.weights.argmax(1).cpu()
        for i, names in enumerate(volumes.carriers()):  # each volume follows its own part of the body
            from scipy.spatial import cKDTree

            allowed = torch.nonzero(torch.isin(dominant, torch.tensor([JOINT_INDEX[n] for n in names]))).squeeze(-1)
            sel = which == i
            _, idx = cKDTree(cv[allowed].numpy()).query(verts[sel].numpy())
            self.anchor[sel] = allowed[torch.from_numpy(idx).long()]
        self.reach = volumes.max_reach(cv) + 0.01 if volumes else 0.0

    def __bool__(self) -> bool:
        return bool(self.volumes)

    def delta_floor(self, x_c: torch.Tensor, d2: torch.Tensor, tau: float) -> torch.Tensor:
        """Lowest delta (m^2) at canonical points x_c (N x 3) with squared body distance d2 (N): inside a volume,
        what makes w = `cfg.weight`; elsewhere the `around` reach squared (0 without one)."""
        inside = self.volumes.inside(x_c)
        floor = torch.full_like(d2, self.volumes.around**2)
        return torch.where(inside, torch.maximum(floor, d2 + tau * self.logit), floor)

    def posed(self, out: BodyOutput, index: int = 0) -> torch.Tensor:
        """The volumes' surface points posed like pose `index` of `out` -> P x 3 (faces: `self.faces`)."""
        if self.verts.numel() == 0:
            return self.verts
        T = out.vertex_transforms[index][self.anchor.to(out.vertex_transforms.device)].float()  # P x 4 x 4
        v = self.verts.to(T)
        return (T[:, :3, :3] @ v.unsqueeze(-1)).squeeze(-1) + T[:, :3, 3]


__all__ = ["LooseConfig", "LooseRegions", "LooseVolumes", "loose_volumes"]
