"""Speech -> face track: phonemes (pocketsphinx) -> visemes -> ARKit mouth and jaw curves, shaped by the voice.

Per frame at `fps`: the co-articulated viseme curves (`visemes.py`); the jaw scaled by loudness (a louder syllable
opens wider: jawOpen = viseme jaw x (floor + (1 - floor) x loudness)); every mouth curve gated to rest where the
sound is silent (so pauses close the mouth even when the recogniser hears a phone there), a light smoothing, then
the bilabial lip closure; blinks; brows that lift on high pitch; head nods and turns from loudness and pitch
(`prosody.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from dreamavatar.body.face import CURVE_INDEX, NUM_CURVES
from dreamavatar.face.audio import Audio
from dreamavatar.face.phonemes import Phone, RecognizerConfig, phones_for
from dreamavatar.face.prosody import ProsodyConfig, blink_curve, head_motion, loudness, pitch, semitones, smooth
from dreamavatar.face.visemes import MOUTH_CURVES, close_lips, mouth_curves
from dreamavatar.motion.face import FaceTrack


@dataclass
class SpeechConfig:
    fps: float = 30.0
    jaw_floor: float = 0.35  # share of a viseme's jaw opening kept at the quietest voiced sound
    silence: float = 0.15  # loudness (0..1) below which the mouth rests
    smoothing: float = 0.02  # seconds: time constant of the final smoothing of the mouth curves
    blinks: bool = True
    head: bool = True
    seed: int = 0  # blink timing
    recognizer: RecognizerConfig = field(default_factory=RecognizerConfig)
    prosody: ProsodyConfig = field(default_factory=ProsodyConfig)


@dataclass
class SpeechAnalysis:
    """What a clip was heard as: phones, and per-frame times (s), loudness and pitch (semitones, 0 unvoiced)."""

    phones: list[Phone]
    times: np.ndarray
    loudness: np.ndarray
    semitones: np.ndarray


def analyse(audio: Audio, transcript: str | None = None, cfg: SpeechConfig | None = None) -> SpeechAnalysis:
    cfg = cfg or SpeechConfig()
    n = max(1, int(round(audio.duration * cfg.fps)))
    times = (np.arange(n) + 0.5) / cfg.fps  # frame k shows the sound around its middle
    phones = phones_for(audio, transcript, cfg.recognizer)
    f0 = pitch(audio, times)
    return SpeechAnalysis(phones, times, loudness(audio, times, cfg.prosody), semitones(f0, cfg.fps))


def speech_curves(a: SpeechAnalysis, cfg: SpeechConfig | None = None) -> np.ndarray:
    """Mouth and jaw curves F x 52 of an analysed clip (all other curves 0)."""
    cfg = cfg or SpeechConfig()
    curves, bilabial = mouth_curves(a.phones, a.times)
    jaw = CURVE_INDEX["jawOpen"]
    loud = a.loudness
    curves[:, jaw] *= cfg.jaw_floor + (1 - cfg.jaw_floor) * loud
    gate = np.clip((smooth(loud, cfg.fps, 0.02) - cfg.silence) / cfg.silence, 0, 1)
    mouth = [CURVE_INDEX[n] for n in MOUTH_CURVES]
    curves[:, mouth] *= gate[:, None]
    curves[:, mouth] = smooth(curves[:, mouth], cfg.fps, cfg.smoothing)
    return np.clip(close_lips(curves, bilabial * gate), 0, 1)


def speech_track(audio: Audio, transcript: str | None = None, cfg: SpeechConfig | None = None) -> FaceTrack:
    """The face track of a speech clip: one frame per 1 / fps seconds of sound."""
    cfg = cfg or SpeechConfig()
    a = analyse(audio, transcript, cfg)
    curves = speech_curves(a, cfg)
    if cfg.blinks:
        blink = blink_curve(len(curves), cfg.fps, cfg.seed, cfg.prosody)
        for side in ("Left", "Right"):
            curves[:, CURVE_INDEX[f"eyeBlink{side}"]] = blink
    high = np.clip(smooth(a.semitones, cfg.fps, 0.2) / cfg.prosody.swing_semitones, 0, 1) * cfg.prosody.brow
    for name in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"):
        curves[:, CURVE_INDEX[name]] = np.maximum(curves[:, CURVE_INDEX[name]], high)
    head = head_motion(a.loudness, a.semitones, cfg.fps, cfg.prosody) if cfg.head else None
    return FaceTrack(torch.from_numpy(curves), cfg.fps, None if head is None else torch.from_numpy(head))


__all__ = ["SpeechConfig", "SpeechAnalysis", "analyse", "speech_curves", "speech_track", "NUM_CURVES"]
