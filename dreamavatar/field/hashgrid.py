"""Multiresolution hash-grid encoding (Instant-NGP), pure PyTorch reference with an optional tinycudann backend.

Conventions follow tinycudann's "HashGrid" so the two backends share one parameter layout: level l has
scale_l = base * growth^l - 1, a point u in [0, 1]^3 sits at u * scale_l + 0.5 in grid units, the level holds
res_l = ceil(scale_l) + 1 vertices per axis, indexed densely while res_l^3 fits the table and by the spatial hash
(x * 1) ^ (y * 2654435761) ^ (z * 805459861) mod T beyond. Features are interpolated trilinearly.

Two torch paths compute the same encoding: `forward_reference` (plain autograd, point-major) and the default fast
path (`_LevelMajorLookup`), which gathers level by level and writes its own backward: one level's rows (at most
2^log2_table_size x features) stay in the CPU cache while its gradient is scattered, about 3x faster than autograd's
point-major `index_add_` on a 2^16-row table. The fast path is used where the points need no gradient (training
and rendering); `tests/test_hashgrid.py` holds it to the reference, values and table gradients.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
from torch import nn

log = logging.getLogger(__name__)

IMPLEMENTATIONS = ("torch", "tcnn")
PRIMES = (1, 2654435761, 805459861)
# the same primes as int32 bit patterns: int32 products wrap like tcnn's uint32 ones (and are cheaper than int64)
_PRIMES_I32 = tuple(p - 2**32 if p >= 2**31 else p for p in PRIMES)
# the 8 corners of a grid cell, bit k of the corner number = offset along axis k
_CORNERS = torch.tensor([[(c >> k) & 1 for k in range(3)] for c in range(8)], dtype=torch.long)
# the weight product below enumerates corners as (x, y, z) nested with z fastest: map to corner numbers
_WEIGHT_ORDER = [cx * 4 + cy * 2 + cz for cx, cy, cz in _CORNERS.tolist()]


class _LevelMajorLookup(torch.autograd.Function):
    """sum_c w[l, n, c] * table[rows[l, n, c]] -> L x N x F, gradient for the table only.

    rows, w: L x N x 8 (int32 rows of the flat table, trilinear weights). Level-major, so the backward's scatter
    (index_add_ of w * grad) runs through one level's rows at a time."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        L, N, _ = rows.shape
        feats = table.index_select(0, rows.reshape(-1)).reshape(L, N, 8, -1)
        ctx.save_for_backward(rows, w)
        ctx.n_rows = table.shape[0]
        return (w.unsqueeze(-1) * feats).sum(2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        rows, w = ctx.saved_tensors
        F = grad.shape[-1]
        contrib = (w.unsqueeze(-1) * grad.unsqueeze(2)).reshape(-1, F)  # (L N 8) x F, level-major
        # int64 rows: index_add_ takes a far slower path for int32 indices on CPU
        table_grad = grad.new_zeros(ctx.n_rows, F).index_add_(0, rows.reshape(-1).long(), contrib)
        return table_grad, None, None


@dataclass
class HashGridConfig:
    n_levels: int = field(default=16, metadata={"min": 1})
    n_features: int = field(default=2, metadata={"min": 1})
    log2_table_size: int = field(default=19, metadata={"min": 4, "max": 26})  # entries per level; tiny preset: 16
    base_resolution: int = field(default=16, metadata={"min": 1})
    finest_resolution: int = field(default=4096, metadata={"min": 1})
    bound: float = field(default=2.0, metadata={"gt": 0})  # points in [-bound, bound]^3 are encoded; outside clamped
    # "torch" | "tcnn" (CUDA + tinycudann only; falls back to torch with a warning)
    implementation: str = field(default="torch", metadata={"choices": IMPLEMENTATIONS})


def tcnn_available() -> bool:
    """tinycudann is importable and CUDA is present."""
    if not torch.cuda.is_available():
        return False
    try:
        import tinycudann  # noqa: F401
    except ImportError:
        return False
    return True


class HashGrid(nn.Module):
    """points N x 3 (world, inside [-bound, bound]^3) -> features N x (n_levels * n_features), level-major."""

    Config = HashGridConfig

    def __init__(self, cfg: HashGridConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or HashGridConfig()
        L, T = cfg.n_levels, 2**cfg.log2_table_size
        growth = math.exp(math.log(cfg.finest_resolution / cfg.base_resolution) / max(L - 1, 1))
        scales = [cfg.base_resolution * growth**lvl - 1.0 for lvl in range(L)]
        res = [int(math.ceil(s)) + 1 for s in scales]
        sizes = [min(T, (r**3 + 7) // 8 * 8) for r in res]
        # dense levels first, then hashed levels of T rows each starting at a multiple of T (see corner_rows)
        self.n_dense = sum(r**3 <= T for r in res)
        offsets, total = [], 0
        for lvl, size in enumerate(sizes):
            if lvl >= self.n_dense:
                total = (total + T - 1) // T * T
            offsets.append(total)
            total += size
        self.growth = growth
        self.register_buffer("scales", torch.tensor(scales, dtype=torch.float32), persistent=False)
        self.register_buffer("res", torch.tensor(res, dtype=torch.int32), persistent=False)
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.int32), persistent=False)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.int32), persistent=False)
        # one flat table of all levels: rows x features, small uniform init
        self.table = nn.Parameter(torch.empty(total, cfg.n_features).uniform_(-1e-4, 1e-4))
        self._tcnn = self._make_tcnn() if cfg.implementation == "tcnn" else None
        if cfg.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"hash grid implementation {cfg.implementation!r}: use one of {', '.join(IMPLEMENTATIONS)}")

    @property
    def out_dim(self) -> int:
        return self.cfg.n_levels * self.cfg.n_features

    def _make_tcnn(self) -> nn.Module | None:
        if not tcnn_available():
            log.warning("hash grid: implementation='tcnn' needs tinycudann and CUDA; using the torch reference")
            return None
        import tinycudann as tcnn

        c = self.cfg
        enc = tcnn.Encoding(
            3,
            {
                "otype": "HashGrid",
                "n_levels": c.n_levels,
                "n_features_per_level": c.n_features,
                "log2_hashmap_size": c.log2_table_size,
                "base_resolution": c.base_resolution,
                "per_level_scale": self.growth,
                "interpolation": "Linear",
            },
            dtype=torch.float32,
        )
        with torch.no_grad():  # start from the same values as the torch table
            enc.params.copy_(self.tcnn_layout().reshape(-1).to(enc.params))
        return enc

    def tcnn_layout(self) -> torch.Tensor:
        """The table in tinycudann's layout (levels back to back, no alignment padding): rows x F."""
        return torch.cat([self.table[o : o + s] for o, s in zip(self.offsets.tolist(), self.sizes.tolist())])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """World points N x 3 -> unit cube [0, 1]^3 (clamped)."""
        b = self.cfg.bound
        return ((x + b) / (2 * b)).clamp(0.0, 1.0)

    def corner_rows(self, base: torch.Tensor) -> torch.Tensor:
        """Lower cell corners L x N x 3 (int32, level-major) -> flat table rows of the 8 cell corners, L x N x 8
        (int32, corner number c: bit k = offset along axis k).

        Dense levels index x + y res + z res^2 (the far boundary clamped into range); hashed levels use
        (x * 1) ^ (y * 2654435761) ^ (z * 805459861) mod T. T is a power of two and the hashed levels' offsets are
        multiples of T, so masking each term first and xor-ing the offset in gives the same rows with fewer ops.
        """
        nd = self.n_dense
        res = self.res[:nd, None]  # Ld x 1
        stride = (torch.ones_like(res), res, res * res)
        mask = 2**self.cfg.log2_table_size - 1
        bd, bh = base[:nd], base[nd:]
        off_d, off_h = self.offsets[:nd, None], self.offsets[nd:, None]
        # per axis, per offset (0 or 1) terms; the level offset rides on the z term
        dterm = [[torch.minimum(bd[..., k] + o, res - 1) * stride[k] for o in (0, 1)] for k in range(3)]
        dterm[2] = [t + off_d for t in dterm[2]]
        hterm = [[((bh[..., k] + o) * _PRIMES_I32[k]) & mask for o in (0, 1)] for k in range(3)]
        hterm[2] = [t ^ off_h for t in hterm[2]]
        dxy = [[dterm[0][cx] + dterm[1][cy] for cy in (0, 1)] for cx in (0, 1)]
        hxy = [[hterm[0][cx] ^ hterm[1][cy] for cy in (0, 1)] for cx in (0, 1)]
        rows = [
            torch.cat([dxy[cx][cy] + dterm[2][cz], hxy[cx][cy] ^ hterm[2][cz]], 0)
            for cx, cy, cz in _CORNERS.tolist()
        ]
        return torch.stack(rows, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x 3 world points -> N x (L * F) features."""
        u = self.normalize(x.reshape(-1, 3).float())
        if self._tcnn is not None and u.is_cuda:
            return self._tcnn(u).float()
        if u.requires_grad:  # gradients with respect to the points: autograd's path
            return self._encode_reference(u)
        return self._encode_fast(u)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The plain autograd encoding (what the fast path is tested against). x: N x 3 -> N x (L * F)."""
        return self._encode_reference(self.normalize(x.reshape(-1, 3).float()))

    def _encode_fast(self, u: torch.Tensor) -> torch.Tensor:
        """Unit-cube points N x 3 -> N x (L * F), level-major gather with a hand-written table gradient."""
        pos = u[None, :, :] * self.scales[:, None, None] + 0.5  # L x N x 3
        base = pos.floor()
        frac = pos - base
        rows = self.corner_rows(base.int())  # L x N x 8
        a = torch.stack([1.0 - frac, frac], -1)  # L x N x 3 x 2: weight of offset 0 / 1 along each axis
        # corner c = bx + 2 by + 4 bz: z slowest, x fastest
        w = (a[:, :, 2, :, None, None] * a[:, :, 1, None, :, None] * a[:, :, 0, None, None, :]).reshape(*rows.shape)
        feats = _LevelMajorLookup.apply(self.table, rows, w)  # L x N x F
        return feats.transpose(0, 1).reshape(u.shape[0], -1)

    def _encode_reference(self, u: torch.Tensor) -> torch.Tensor:
        pos = u[:, None, :] * self.scales[None, :, None] + 0.5  # N x L x 3
        base = pos.floor()
        frac = pos - base
        rows = self.corner_rows(base.int().transpose(0, 1)).transpose(0, 1)  # N x L x 8
        # trilinear weights of the 8 corners: product over axes of frac (offset 1) or 1 - frac (offset 0)
        wx = torch.stack([1.0 - frac, frac], -1)  # N x L x 3 x 2
        w = (wx[:, :, 0, :, None, None] * wx[:, :, 1, None, :, None] * wx[:, :, 2, None, None, :]).reshape(
            u.shape[0], -1, 8
        )  # N x L x 8, corner number = cz * 4 + cy * 2 + cx ... reordered below
        w = w[..., _WEIGHT_ORDER]
        feats = self.table.index_select(0, rows.reshape(-1)).reshape(*rows.shape, -1)  # N x L x 8 x F
        return (w.unsqueeze(-1) * feats).sum(2).reshape(u.shape[0], -1)
