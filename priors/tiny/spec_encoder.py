"""Spec conditioning for the tiny prior: an outfit-and-body spec (`prompts.spec.Spec`) + a view -> tokens.

One token per part of the spec, each the sum of a learned type embedding and what the part holds:
    view      front / side / back (or unknown)
    body      anny's six phenotype values through a small MLP
    skin      its colour in CIELAB through the colour MLP
    hair      style embedding + colour
    garments  up to `max_garments` tokens: region, kind, material and pattern embeddings + first and second colour
              (CIELAB, the second only for two-colour patterns) + resolved length / sleeves through an MLP
Colours go in as continuous CIELAB values, so a colour or a combination never seen in training still has a place to
go. A missing part (no hair given, fewer garments, or dropped for classifier-free guidance) is a learned null token of
its type, so the all-null spec is the unconditional input. Two self-attention layers let the tokens see each other
(a cape's colour next to a dress's, gloves with their sleeves) before the UNet cross-attends them.

A condition is carried as a string so the prior contract's caches (`PosePrior.embed`) work unchanged: `condition_key`
makes `{"view": ..., "spec": {...}}` JSON; the empty string is the null condition; any other string is read as a
prompt (an optional "front/side/back view of" prefix, then `prompts.parse.parse_prompt`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from prompts.spec import GARMENT_KINDS, HAIR_STYLES, MATERIALS, PATTERNS, PHENOTYPES, REGIONS, Spec, hex_to_rgb

VIEWS: tuple[str, ...] = ("front", "side", "back")
KINDS: tuple[str, ...] = tuple(GARMENT_KINDS)


def srgb_to_lab(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """sRGB in [0, 1] -> CIELAB (D65): L in [0, 100], a and b about [-128, 127]."""

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _lab(color: str) -> list[float]:
    """'#rrggbb' -> CIELAB scaled to about [-1, 1] per channel."""
    L, a, b = srgb_to_lab(hex_to_rgb(color))
    return [L / 50 - 1, a / 100, b / 100]


def condition_key(spec: Optional[Spec], view: Optional[str]) -> str:
    """The string that stands for (spec, view) in the prior's caches; "" (the null condition) when spec is None."""
    if spec is None:
        return ""
    return json.dumps({"view": view, "spec": json.loads(spec.key())}, sort_keys=True)


def read_condition(item: str) -> tuple[Optional[Spec], Optional[str]]:
    """Inverse of `condition_key`, also accepting a plain prompt ("back view of a knight in silver armour")."""
    if not item.strip():
        return None, None
    if item.lstrip().startswith("{"):
        d = json.loads(item)
        return Spec.from_dict(d["spec"]), d.get("view")
    from prompts.parse import parse_prompt

    view = None
    for v in VIEWS:
        prefix = f"{v} view of "
        if item.lower().startswith(prefix):
            view, item = v, item[len(prefix) :]
            break
    return parse_prompt(item), view


@dataclass
class SpecEncoderConfig:
    dim: int = 64  # token width D (the UNet's cross-attention dim)
    max_garments: int = 8
    layers: int = 2  # self-attention layers over the tokens
    heads: int = 4


@dataclass
class SpecFields:
    """A batch of specs as tensors (B specs, G = max_garments). *_on: B (x G) bool, False where the part is null.

    view B long (len(VIEWS) = unknown); body B x 6; skin B x 3 (scaled Lab); hair_style B long; hair_color B x 3;
    g_region, g_kind, g_material, g_pattern B x G long; g_color, g_color2 B x G x 3; g_shape B x G x 4
    (length, sleeves, and whether each was given)."""

    view: torch.Tensor
    body: torch.Tensor
    body_on: torch.Tensor
    skin: torch.Tensor
    skin_on: torch.Tensor
    hair_style: torch.Tensor
    hair_color: torch.Tensor
    hair_on: torch.Tensor
    g_region: torch.Tensor
    g_kind: torch.Tensor
    g_material: torch.Tensor
    g_pattern: torch.Tensor
    g_color: torch.Tensor
    g_color2: torch.Tensor
    g_shape: torch.Tensor
    g_on: torch.Tensor

    def to(self, device) -> "SpecFields":
        return SpecFields(**{k: v.to(device) for k, v in vars(self).items()})


def spec_fields(items: list[tuple[Optional[Spec], Optional[str]]], max_garments: int) -> SpecFields:
    """(spec or None, view or None) pairs -> SpecFields. Garments beyond `max_garments` are dropped (the first ones
    are kept: the parser lists garments in the prompt's order); their order carries no meaning to the encoder."""
    B, G = len(items), max_garments
    f = {
        "view": torch.full((B,), len(VIEWS), dtype=torch.long),
        "body": torch.zeros(B, len(PHENOTYPES)), "body_on": torch.zeros(B, dtype=torch.bool),
        "skin": torch.zeros(B, 3), "skin_on": torch.zeros(B, dtype=torch.bool),
        "hair_style": torch.zeros(B, dtype=torch.long), "hair_color": torch.zeros(B, 3),
        "hair_on": torch.zeros(B, dtype=torch.bool),
        "g_region": torch.zeros(B, G, dtype=torch.long), "g_kind": torch.zeros(B, G, dtype=torch.long),
        "g_material": torch.zeros(B, G, dtype=torch.long), "g_pattern": torch.zeros(B, G, dtype=torch.long),
        "g_color": torch.zeros(B, G, 3), "g_color2": torch.zeros(B, G, 3), "g_shape": torch.zeros(B, G, 4),
        "g_on": torch.zeros(B, G, dtype=torch.bool),
    }  # fmt: skip
    for i, (spec, view) in enumerate(items):
        if view in VIEWS:
            f["view"][i] = VIEWS.index(view)
        if spec is None:
            continue
        f["body"][i] = torch.tensor(spec.body.values()) * 2 - 1
        f["body_on"][i] = True
        f["skin"][i] = torch.tensor(_lab(spec.skin.color))
        f["skin_on"][i] = True
        if spec.hair is not None:
            f["hair_style"][i] = HAIR_STYLES.index(spec.hair.style)
            f["hair_color"][i] = torch.tensor(_lab(spec.hair.color))
            f["hair_on"][i] = True
        for j, g in enumerate(spec.garments[:G]):
            f["g_region"][i, j] = REGIONS.index(g.region)
            f["g_kind"][i, j] = KINDS.index(g.kind)
            f["g_material"][i, j] = MATERIALS.index(g.material)
            f["g_pattern"][i, j] = PATTERNS.index(g.pattern)
            f["g_color"][i, j] = torch.tensor(_lab(g.color))
            if g.color2 is not None and g.pattern != "plain":
                f["g_color2"][i, j] = torch.tensor(_lab(g.color2))
            length, sleeves = g.resolved_length(), g.resolved_sleeves()
            f["g_shape"][i, j] = torch.tensor([
                0.0 if length is None else 2 * length - 1, 0.0 if sleeves is None else 2 * sleeves - 1,
                float(length is not None), float(sleeves is not None),
            ])  # fmt: skip
            f["g_on"][i, j] = True
    return SpecFields(**f)


def _mlp(n_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, d), nn.SiLU(), nn.Linear(d, d))


class SpecEncoder(nn.Module):
    """SpecFields -> B x L x D tokens, L = 4 + max_garments (view, body, skin, hair, garments)."""

    def __init__(self, cfg: SpecEncoderConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or SpecEncoderConfig()
        d = cfg.dim
        self.view = nn.Embedding(len(VIEWS) + 1, d)
        self.part = nn.Embedding(4 + 1, d)  # which part a token is: view, body, skin, hair, garment
        self.null = nn.Parameter(torch.zeros(4, d))  # body, skin, hair, garment when absent
        self.body = _mlp(len(PHENOTYPES), d)
        self.color = _mlp(3, d)  # shared by skin, hair and garments: one colour space
        self.color2 = _mlp(3, d)
        self.hair_style = nn.Embedding(len(HAIR_STYLES), d)
        self.region = nn.Embedding(len(REGIONS), d)
        self.kind = nn.Embedding(len(KINDS), d)
        self.material = nn.Embedding(len(MATERIALS), d)
        self.pattern = nn.Embedding(len(PATTERNS), d)
        self.shape = _mlp(4, d)
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.mix = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.out = nn.LayerNorm(d)

    @property
    def length(self) -> int:
        return 4 + self.cfg.max_garments

    def forward(self, f: SpecFields) -> torch.Tensor:
        ty = self.part.weight

        def gate(x: torch.Tensor, on: torch.Tensor, null: torch.Tensor) -> torch.Tensor:
            return torch.where(on[..., None], x, null.expand_as(x))

        view = self.view(f.view) + ty[0]
        body = gate(self.body(f.body), f.body_on, self.null[0]) + ty[1]
        skin = gate(self.color(f.skin), f.skin_on, self.null[1]) + ty[2]
        hair = gate(self.hair_style(f.hair_style) + self.color(f.hair_color), f.hair_on, self.null[2]) + ty[3]
        two = (f.g_pattern != PATTERNS.index("plain")).float()[..., None]
        g = (self.region(f.g_region) + self.kind(f.g_kind) + self.material(f.g_material) + self.pattern(f.g_pattern)
             + self.color(f.g_color) + two * self.color2(f.g_color2) + self.shape(f.g_shape))  # fmt: skip
        g = gate(g, f.g_on, self.null[3]) + ty[4]  # no position: the garments are a set (shuffled in training)
        tokens = torch.cat([view[:, None], body[:, None], skin[:, None], hair[:, None], g], 1)
        return self.out(self.mix(tokens))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "KINDS", "SpecEncoder", "SpecEncoderConfig", "SpecFields", "VIEWS", "condition_key", "count_parameters",
    "read_condition", "spec_fields", "srgb_to_lab",
]  # fmt: skip
