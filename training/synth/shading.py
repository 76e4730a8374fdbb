"""Surface looks of the wardrobe: two-colour patterns on canonical coordinates, and materials shaded per vertex under
the headlight (a light at the camera, as `renderers.raster.headlight_shading`), before rasterising (Gouraud).

With d = |n . v| (normal against the direction to the camera), a vertex of albedo a gets
    a * (ambient + diffuse * d)  +  specular * d ** shininess * mix(white, a, tint)  +  rim * (1 - d) ** 2 * mix(a, white, .5)
times (1 + noise * a fixed per-vertex hash in [-1, 1]). Cloth is today's headlight shading (0.45 + 0.55 d).

Patterns (sizes so they read at 32 px: a pixel is about 6 cm at the training cameras' distance):
    stripes  horizontal bands around the body, each `pattern_size` (8-12 cm) high
    checks   a 3D checkerboard of `pattern_size` cubes (squares on any surface)
    blocks   two halves: left / right of the body's midline, or above / below the garment's middle height
    dots     spots of radius 0.3 x `pattern_size` (11-14 cm apart) on a 3D lattice
"""

from __future__ import annotations

import torch

from prompts.spec import hex_to_rgb

# name: (ambient, diffuse, specular, shininess, specular tint (0 white, 1 albedo), rim, noise)
MATERIAL_PARAMS: dict[str, tuple[float, float, float, float, float, float, float]] = {
    "cloth": (0.45, 0.55, 0.0, 1.0, 0.0, 0.0, 0.0),
    "denim": (0.45, 0.55, 0.0, 1.0, 0.0, 0.0, 0.12),
    "leather": (0.35, 0.5, 0.35, 18.0, 0.2, 0.0, 0.0),
    "rubber": (0.33, 0.5, 0.3, 8.0, 0.1, 0.0, 0.0),
    "metal": (0.22, 0.42, 0.75, 24.0, 0.7, 0.0, 0.0),
    "silk": (0.4, 0.45, 0.3, 4.0, 0.5, 0.0, 0.0),
    "wool": (0.5, 0.42, 0.0, 1.0, 0.0, 0.22, 0.05),
    "fur": (0.5, 0.38, 0.0, 1.0, 0.0, 0.32, 0.1),
    "plastic": (0.42, 0.52, 0.45, 40.0, 0.0, 0.0, 0.0),
    "skin": (0.45, 0.53, 0.06, 10.0, 0.0, 0.0, 0.0),
    "hair": (0.45, 0.5, 0.12, 8.0, 0.3, 0.0, 0.06),
}
MATERIAL_NAMES = tuple(MATERIAL_PARAMS)


def _hash(p: torch.Tensor) -> torch.Tensor:
    """A fixed pseudo-random value in [-1, 1] per 3D point (N x 3 -> N), fine-grained (about 1 cm)."""
    x = torch.sin(p @ torch.tensor([127.1, 311.7, 74.7]) * 9.0) * 43758.5453
    return (x - torch.floor(x)) * 2 - 1


def pattern_mask(look, pos: torch.Tensor) -> torch.Tensor:
    """Where a look shows its second colour, at canonical positions pos (N x 3) -> N bool."""
    s = look.pattern_size
    ph = torch.tensor(look.pattern_phase) * s
    q = pos + ph
    if look.pattern == "stripes":
        return torch.remainder(q[:, 1] / s, 2.0) < 1.0
    if look.pattern == "checks":
        return (torch.floor(q / s).long().sum(1) % 2) == 1
    if look.pattern == "blocks":
        return pos[:, 0] > 0 if look.blocks_axis == 0 else pos[:, 1] > look.blocks_at
    if look.pattern == "dots":
        cell = torch.remainder(q, s) - s / 2
        return cell.norm(dim=1) < 0.3 * s
    return torch.zeros(pos.shape[0], dtype=torch.bool)


def albedo(looks: list, slots: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-vertex albedo (N x 3 sRGB) and material index (N, into MATERIAL_NAMES) from slots (N) and canonical
    positions (N x 3)."""
    col = torch.zeros(pos.shape[0], 3)
    mat = torch.zeros(pos.shape[0], dtype=torch.long)
    for s in torch.unique(slots).tolist():
        look = looks[s]
        m = slots == s
        c = torch.tensor(hex_to_rgb(look.color))
        if look.pattern != "plain" and look.color2:
            second = pattern_mask(look, pos[m])
            col[m] = torch.where(second[:, None], torch.tensor(hex_to_rgb(look.color2)), c)
        else:
            col[m] = c
        if look.plates:  # seams between armour plates, every 12 cm up the body
            seam = torch.remainder(pos[m, 1] / 0.12, 1.0) < 0.12
            col[m] = torch.where(seam[:, None], col[m] * 0.55, col[m])
        mat[m] = MATERIAL_NAMES.index(look.material)
    return col, mat


_PARAMS = torch.tensor(list(MATERIAL_PARAMS.values()))  # M x 7


def shade(col: torch.Tensor, mat: torch.Tensor, normals: torch.Tensor, to_cam: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Shaded vertex colours (N x 3 in [0, 1]) from albedo N x 3, material N, unit normals and directions to the camera
    N x 3 (posed), canonical positions N x 3 (for the fixed noise)."""
    p = _PARAMS[mat]  # N x 7
    amb, dif, spec, shin, tint, rim, noise = p.unbind(1)
    d = (normals * to_cam).sum(-1).abs().clamp(0, 1)
    white = torch.ones_like(col)
    out = col * (amb + dif * d)[:, None]
    out = out + (spec * d**shin)[:, None] * (white + tint[:, None] * (col - white))
    out = out + (rim * (1 - d) ** 2)[:, None] * (0.5 * (col + white))
    out = out * (1 + noise * _hash(pos))[:, None]
    return out.clamp(0, 1)
