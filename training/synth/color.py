"""sRGB <-> CIELAB (D65) and LCh, the one colour space of the wardrobe: colours are sampled in it (`specs`) and read
back in it (`metrics`). The numpy functions take any shape ... x 3 (images); the `*1` functions convert one colour in
plain Python, about 30 times faster for the sampler (tests check the two agree)."""

from __future__ import annotations

import math

import numpy as np

_M = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
_M_INV = np.linalg.inv(_M)
_WHITE = _M.sum(1)  # D65 white of sRGB (X, Y, Z of rgb = 1)
_EPS, _KAPPA = 216 / 24389, 24389 / 27


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.abs(c) ** (1 / 2.4) * np.sign(c) - 0.055)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (... x 3) -> CIELAB (L in [0, 100])."""
    xyz = srgb_to_linear(rgb) @ _M.T / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def lab_to_rgb(lab: np.ndarray, clip: bool = True) -> np.ndarray:
    """CIELAB (... x 3) -> sRGB (clipped to [0, 1] unless `clip` is False, to test the gamut)."""
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA) * _WHITE
    rgb = linear_to_srgb(xyz @ _M_INV.T)
    return np.clip(rgb, 0, 1) if clip else rgb


def lab_to_lch(lab: np.ndarray) -> np.ndarray:
    """CIELAB -> (L, chroma, hue angle in degrees [0, 360))."""
    lab = np.asarray(lab, np.float64)
    return np.stack([lab[..., 0], np.hypot(lab[..., 1], lab[..., 2]), np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360], -1)


def lch_to_lab(lch: np.ndarray) -> np.ndarray:
    lch = np.asarray(lch, np.float64)
    h = np.radians(lch[..., 2])
    return np.stack([lch[..., 0], lch[..., 1] * np.cos(h), lch[..., 1] * np.sin(h)], -1)


def in_gamut(lab: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    rgb = lab_to_rgb(lab, clip=False)
    return ((rgb >= -tol) & (rgb <= 1 + tol)).all(-1)


def _lin1(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _srgb1(c: float) -> float:
    return 12.92 * c if c <= 0.0031308 else 1.055 * abs(c) ** (1 / 2.4) * (1 if c >= 0 else -1) - 0.055


_M1, _MI1, _W1 = _M.tolist(), _M_INV.tolist(), _WHITE.tolist()


def rgb_to_lab1(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    lin = [_lin1(c) for c in rgb]
    f = []
    for row, w in zip(_M1, _W1):
        t = sum(m * c for m, c in zip(row, lin)) / w
        f.append(t ** (1 / 3) if t > _EPS else (_KAPPA * t + 16) / 116)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def lab_to_rgb1(lab: tuple[float, float, float], clip: bool = True) -> tuple[float, float, float]:
    L, a, b = lab
    fy = (L + 16) / 116
    xyz = [(t**3 if t**3 > _EPS else (116 * t - 16) / _KAPPA) * w for t, w in zip((fy + a / 500, fy, fy - b / 200), _W1)]
    rgb = [_srgb1(sum(m * c for m, c in zip(row, xyz))) for row in _MI1]
    return tuple(min(1.0, max(0.0, c)) for c in rgb) if clip else tuple(rgb)  # type: ignore[return-value]


def lch_to_lab1(L: float, C: float, h: float) -> tuple[float, float, float]:
    return L, C * math.cos(math.radians(h)), C * math.sin(math.radians(h))


def lab_to_lch1(lab: tuple[float, float, float]) -> tuple[float, float, float]:
    return lab[0], math.hypot(lab[1], lab[2]), math.degrees(math.atan2(lab[2], lab[1])) % 360


def _max_chroma_exact(L: np.ndarray, h: np.ndarray, iters: int = 12) -> np.ndarray:
    """Vectorised bisection on the sRGB gamut boundary: the largest chroma at lightness L and hue h (degrees)."""
    lo, hi = np.zeros_like(L, dtype=np.float64), np.full_like(L, 150.0, dtype=np.float64)
    for _ in range(iters):
        mid = (lo + hi) / 2
        ok = in_gamut(lch_to_lab(np.stack([L, mid, h], -1)), tol=1e-9)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return lo


_TABLE: np.ndarray | None = None  # max chroma at integer L (0..100) and even hues (0..360 degrees)


def max_chroma(L: float, hue_deg: float) -> float:
    """The largest chroma of an sRGB colour of lightness L and hue `hue_deg`, from a 1-unit, 2-degree table (the
    smallest of the four surrounding entries, so the colour is inside the gamut up to rounding)."""
    global _TABLE
    if _TABLE is None:
        Ls, hs = np.meshgrid(np.arange(101.0), np.arange(0.0, 361.0, 2.0), indexing="ij")
        _TABLE = _max_chroma_exact(Ls, hs % 360)
    i, j = min(max(int(L), 0), 99), int(hue_deg % 360) // 2
    return float(_TABLE[i : i + 2, j : j + 2].min())


def hue_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest angle between hue angles (degrees), in [0, 180]."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) % 360
    return np.minimum(d, 360 - d)


def hex_to_lab(color: str) -> tuple[float, float, float]:
    from prompts.spec import hex_to_rgb

    return rgb_to_lab1(hex_to_rgb(color))


def hex_to_lch(color: str) -> tuple[float, float, float]:
    """'#rrggbb' -> (L, chroma, hue angle in degrees)."""
    return lab_to_lch1(hex_to_lab(color))


def lab_to_hex(lab: tuple[float, float, float]) -> str:
    from prompts.spec import rgb_to_hex

    return rgb_to_hex(lab_to_rgb1(lab))
