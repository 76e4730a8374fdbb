"""Emotion presets: EmoFace's seven categories as ARKit expressions, blended with speech (speech wins on the mouth).

Each preset is the project's own reading of the facial action units that characterise the emotion (Ekman's FACS:
happy = cheek raiser + lip-corner puller; sad = inner-brow raiser + brow lowerer + lip-corner depressor; angry = brow
lowerer + lid tightener + lip presser; surprised = brow raisers + upper-lid raiser + jaw drop; fearful = brow raisers
+ lid raiser + lip stretcher; disgusted = nose wrinkler + upper-lip raiser), written as ARKit curves. `NAME:INTENSITY`
scales one (intensity in [0, 1], default 1).
"""

from __future__ import annotations

import numpy as np

from dreamavatar.body.face import CURVE_INDEX, curve_vector
from dreamavatar.errors import UserError

# "mouthSmile" means both mouthSmileLeft and mouthSmileRight (symmetric expressions).
_PRESETS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"mouthSmile": 0.7, "cheekSquint": 0.5, "eyeSquint": 0.3, "mouthDimple": 0.2, "browOuterUp": 0.1},
    "sad": {"browInnerUp": 0.7, "browDown": 0.2, "mouthFrown": 0.6, "mouthShrugLower": 0.3, "eyeSquint": 0.15,
            "mouthLowerDown": 0.1},
    "angry": {"browDown": 0.8, "eyeSquint": 0.45, "noseSneer": 0.3, "mouthPress": 0.45, "mouthFrown": 0.2,
              "jawForward": 0.1},
    "surprised": {"browInnerUp": 0.8, "browOuterUp": 0.8, "eyeWide": 0.8, "jawOpen": 0.3, "mouthFunnel": 0.1},
    "fearful": {"browInnerUp": 0.85, "browOuterUp": 0.4, "eyeWide": 0.7, "mouthStretch": 0.5, "jawOpen": 0.1,
                "browDown": 0.1},
    "disgusted": {"noseSneer": 0.8, "mouthUpperUp": 0.6, "browDown": 0.4, "cheekSquint": 0.3, "mouthFrown": 0.3,
                  "eyeSquint": 0.2},
}  # fmt: skip
EMOTIONS: tuple[str, ...] = tuple(_PRESETS)


def parse_emotion(spec: str) -> tuple[str, float]:
    """"NAME" or "NAME:INTENSITY" -> (name, intensity); UserError naming the choices."""
    name, _, level = str(spec).strip().partition(":")
    name = name.strip().lower()
    if name not in _PRESETS:
        raise UserError(f"unknown emotion {name!r}: use one of {', '.join(EMOTIONS)}, optionally with an intensity "
                        "such as happy:0.5")  # fmt: skip
    try:
        intensity = float(level) if level.strip() else 1.0
    except ValueError:
        intensity = float("nan")
    if not 0.0 <= intensity <= 1.0:
        raise UserError(f"emotion intensity {level!r} in {spec!r} is not a number in [0, 1]: e.g. {name}:0.5")
    return name, intensity


def emotion_curves(spec: str) -> np.ndarray:
    """The ARKit curves (52) of "NAME[:INTENSITY]"."""
    name, intensity = parse_emotion(spec)
    return np.array(curve_vector(_PRESETS[name])) * intensity


RESIDUAL = 0.3  # share of an expression's mouth shape (a smile, a frown) kept while speaking; none on the jaw


def blend(curves: np.ndarray, expression: np.ndarray, mouth: list[int]) -> np.ndarray:
    """Speech (or capture) curves F x 52 with an expression (52) on top: outside the mouth the larger of the two;
    on the mouth `mouth` (curve indices) the expression adds in full where the mouth rests and fades to RESIDUAL
    (0 on jawOpen and mouthClose) where it moves, so speech wins on the mouth."""
    out = np.maximum(curves, expression[None])
    if mouth:
        speaking = np.clip(curves[:, mouth].max(1, keepdims=True) / 0.3, 0, 1)
        residual = np.full(len(mouth), RESIDUAL)
        residual[[mouth.index(CURVE_INDEX[n]) for n in ("jawOpen", "mouthClose") if CURVE_INDEX[n] in mouth]] = 0
        keep = 1 - speaking * (1 - residual[None])
        out[:, mouth] = np.clip(curves[:, mouth] + keep * expression[mouth][None], 0, 1)
    return out


__all__ = ["EMOTIONS", "parse_emotion", "emotion_curves", "blend"]
