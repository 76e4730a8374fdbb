"""Phones -> visemes -> ARKit mouth and jaw curves, with co-articulation.

Each ARPAbet phone maps to one of 15 visemes (the mouth shapes lip-sync systems commonly use: silence, PP, FF, TH,
DD, kk, CH, SS, nn, RR, aa, E, ih, oh, ou); diphthongs (AY, AW, OY, EY, OW) glide from one vowel viseme to another
over their two halves. Every viseme is an ARKit mouth pose (the table below, the project's own reading of how each
sound is made). Co-articulation follows the dominance model of Cohen and Massaro (1993): each phone pulls the mouth
towards its viseme with a dominance that is its strength inside the phone and decays exponentially outside it, and
the mouth at time t is the dominance-weighted mean of all visemes, so neighbours blend and anticipate each other.
Lips that must close (p, b, m) are a constraint on top: where the bilabial dominates, mouthClose follows jawOpen
(ARKit's lips-together-while-the-jaw-opens), whatever its neighbours pull towards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dreamavatar.body.face import CURVE_INDEX, NUM_CURVES, curve_vector
from dreamavatar.face.phonemes import Phone

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou")

PHONE_VISEME: dict[str, str | tuple[str, str]] = {
    "SIL": "sil", "P": "PP", "B": "PP", "M": "PP", "F": "FF", "V": "FF", "TH": "TH", "DH": "TH", "T": "DD", "D": "DD",
    "K": "kk", "G": "kk", "NG": "kk", "HH": "kk", "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH", "S": "SS", "Z": "SS",
    "N": "nn", "L": "nn", "R": "RR", "ER": "RR", "Y": "ih", "W": "ou",
    "AA": "aa", "AH": "aa", "AE": "aa", "EH": "E", "IH": "ih", "IY": "ih", "AO": "oh", "UH": "ou", "UW": "ou",
    "AY": ("aa", "ih"), "AW": ("aa", "ou"), "OY": ("oh", "ih"), "EY": ("E", "ih"), "OW": ("oh", "ou"),
}  # fmt: skip

# Symmetric mouth poses: "mouthSmile" means both mouthSmileLeft and mouthSmileRight.
_POSES: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": {"jawOpen": 0.08, "mouthClose": 0.08, "mouthPress": 0.35, "mouthRollLower": 0.1},
    "FF": {"jawOpen": 0.1, "mouthRollLower": 0.55, "mouthUpperUp": 0.25, "mouthShrugUpper": 0.1},
    "TH": {"jawOpen": 0.18, "tongueOut": 0.25, "mouthStretch": 0.1},
    "DD": {"jawOpen": 0.22, "mouthStretch": 0.15, "mouthLowerDown": 0.1},
    "kk": {"jawOpen": 0.28, "mouthStretch": 0.1, "mouthLowerDown": 0.1},
    "CH": {"jawOpen": 0.15, "mouthFunnel": 0.5, "mouthPucker": 0.3, "mouthShrugUpper": 0.2},
    "SS": {"jawOpen": 0.1, "mouthStretch": 0.4, "mouthSmile": 0.15},
    "nn": {"jawOpen": 0.2, "mouthStretch": 0.1},
    "RR": {"jawOpen": 0.2, "mouthPucker": 0.45, "mouthFunnel": 0.3},
    "aa": {"jawOpen": 0.7, "mouthLowerDown": 0.3, "mouthUpperUp": 0.1},
    "E": {"jawOpen": 0.45, "mouthStretch": 0.35, "mouthSmile": 0.2, "mouthLowerDown": 0.2},
    "ih": {"jawOpen": 0.3, "mouthStretch": 0.45, "mouthSmile": 0.3},
    "oh": {"jawOpen": 0.5, "mouthFunnel": 0.6, "mouthPucker": 0.3},
    "ou": {"jawOpen": 0.25, "mouthPucker": 0.8, "mouthFunnel": 0.4},
}

# Dominance: strength inside the phone, and the time constant (s) of its decay outside. Bilabials and labiodentals
# are strong and local (the lips must get there), vowels broad, H takes the shape of its neighbours.
_DOMINANCE: dict[str, tuple[float, float]] = {
    "sil": (0.5, 0.04), "PP": (1.0, 0.03), "FF": (0.9, 0.03), "TH": (0.6, 0.03), "DD": (0.4, 0.03),
    "kk": (0.35, 0.03), "CH": (0.8, 0.04), "SS": (0.6, 0.03), "nn": (0.4, 0.03), "RR": (0.6, 0.04),
    "aa": (0.6, 0.06), "E": (0.6, 0.06), "ih": (0.6, 0.06), "oh": (0.6, 0.06), "ou": (0.7, 0.06),
}  # fmt: skip
WEAK_PHONES = {"HH": 0.1}  # phones whose own viseme barely matters

MOUTH_CURVES: tuple[str, ...] = tuple(n for n in CURVE_INDEX if n.startswith(("mouth", "jaw", "tongue")))


VISEME_POSES: np.ndarray = np.array([curve_vector(_POSES[v]) for v in VISEMES])  # 15 x 52
VISEME_INDEX = {v: i for i, v in enumerate(VISEMES)}


@dataclass(frozen=True)
class VisemeSpan:
    viseme: str
    start: float
    end: float
    strength: float  # dominance inside the span
    tau: float  # seconds: decay of the dominance outside


def viseme_spans(phones: list[Phone], lead: float = 0.02) -> list[VisemeSpan]:
    """The visemes of a phone sequence (diphthongs split in two), each `lead` seconds early: the lips move a little
    before the sound they shape."""
    spans = []
    for p in phones:
        v = PHONE_VISEME.get(p.phone, "nn")  # an unknown phone: a neutral, slightly open mouth
        parts = v if isinstance(v, tuple) else (v,)
        step = (p.end - p.start) / len(parts)
        for k, name in enumerate(parts):
            strength, tau = _DOMINANCE[name]
            strength = WEAK_PHONES.get(p.phone, strength)
            s = p.start + k * step - (lead if name != "sil" else 0.0)
            spans.append(VisemeSpan(name, s, s + step, strength, tau))
    return spans


def dominance(spans: list[VisemeSpan], times: np.ndarray) -> np.ndarray:
    """Dominance of each span at each time: S x T (strength inside, strength exp(-distance / tau) outside)."""
    s = np.array([sp.start for sp in spans])[:, None]
    e = np.array([sp.end for sp in spans])[:, None]
    a = np.array([sp.strength for sp in spans])[:, None]
    tau = np.array([sp.tau for sp in spans])[:, None]
    dist = np.maximum(np.maximum(s - times[None], times[None] - e), 0.0)
    return a * np.exp(-dist / tau)


def mouth_curves(phones: list[Phone], times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ARKit curves T x 52 (mouth, jaw and tongue only) at `times` (s) for a phone sequence, co-articulated, and the
    bilabial share T (how much p/b/m owns the mouth at each time, 0..1)."""
    if not phones:
        return np.zeros((len(times), NUM_CURVES)), np.zeros(len(times))
    spans = viseme_spans(phones)
    D = dominance(spans, times)  # S x T
    W = D / np.maximum(D.sum(0, keepdims=True), 1e-9)
    idx = np.array([VISEME_INDEX[sp.viseme] for sp in spans])
    curves = W.T @ VISEME_POSES[idx]  # T x 52
    bilabial = W[idx == VISEME_INDEX["PP"]].sum(0)
    return curves, bilabial


def close_lips(curves: np.ndarray, bilabial: np.ndarray) -> np.ndarray:
    """Where p/b/m own at least 35 % of the mouth, the lips meet: mouthClose = jawOpen (blended in from a share of
    0.15 to 0.35) and the jaw rises half-way towards the bilabial's own opening."""
    out = curves.copy()
    k = np.clip((bilabial - 0.15) / 0.2, 0, 1)
    jaw, close = CURVE_INDEX["jawOpen"], CURVE_INDEX["mouthClose"]
    pp_jaw = VISEME_POSES[VISEME_INDEX["PP"], jaw]
    out[:, jaw] = (1 - k) * curves[:, jaw] + k * np.minimum(curves[:, jaw], pp_jaw + 0.5 * (curves[:, jaw] - pp_jaw))
    out[:, close] = np.maximum(curves[:, close], k * out[:, jaw])
    return out


def dominant_visemes(curves: np.ndarray) -> np.ndarray:
    """The viseme whose pose is nearest each frame's mouth curves T x 52 (lips closed read as PP): T indices into
    VISEMES. A reading of curves by their shape only, for checks and tools."""
    mouth = [CURVE_INDEX[n] for n in MOUTH_CURVES]
    c = curves[:, mouth].copy()
    P = VISEME_POSES[:, mouth]
    d = ((c[:, None, :] - P[None]) ** 2).sum(-1)
    out = d.argmin(1)
    jaw, close = CURVE_INDEX["jawOpen"], CURVE_INDEX["mouthClose"]
    lips_shut = (curves[:, close] >= 0.8 * curves[:, jaw]) & (curves[:, jaw] > 0.02)
    out[lips_shut] = VISEME_INDEX["PP"]
    return out


__all__ = ["VISEMES", "PHONE_VISEME", "VISEME_POSES", "MOUTH_CURVES", "viseme_spans", "dominance", "mouth_curves",
           "close_lips", "dominant_visemes"]  # fmt: skip
