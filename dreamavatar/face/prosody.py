"""What the voice does besides phonemes, and the face's life between them: loudness, pitch, head motion, blinks.

- Loudness: RMS in 30 ms windows every frame, in dB below the clip's peak, mapped to [0, 1] over `range_db`.
- Pitch: F0 by normalised autocorrelation (70-400 Hz) in 40 ms windows, voiced where the correlation is high and the
  frame is loud, in semitones from the speaker's median.
- Head: nods (pitch down) on stressed syllables (loudness above its own slow average), turns and tilts that drift
  with the intonation (slow pitch contour), a few degrees each, like a speaker's beat gestures.
- Blinks: a gamma-distributed interval with a mean of 3.5 s (about 17 a minute, a resting talker's rate), never
  closer than 1.2 s; fast close (70 ms), short hold, slower opening (130 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dreamavatar.face.audio import Audio


@dataclass
class ProsodyConfig:
    range_db: float = 40.0  # loudness: this many dB below the peak is 0
    nod_deg: float = 3.0  # head pitch on a stressed syllable
    turn_deg: float = 5.0  # head yaw for an intonation swing of `swing_semitones`
    tilt_deg: float = 1.5
    swing_semitones: float = 4.0
    brow: float = 0.35  # browInnerUp / browOuterUp on high pitch
    blink_mean: float = 3.5  # seconds between blinks on average
    blink_min: float = 1.2


def _frames(x: np.ndarray, rate: int, times: np.ndarray, window: float) -> np.ndarray:
    """Windows T x W of `x` centred at `times` (zero-padded)."""
    w = max(2, int(round(window * rate)))
    pad = np.pad(x, (w, w))
    starts = np.clip(np.round(times * rate).astype(int) - w // 2 + w, 0, len(pad) - w)
    return pad[starts[:, None] + np.arange(w)[None]]


def loudness(audio: Audio, times: np.ndarray, cfg: ProsodyConfig | None = None) -> np.ndarray:
    """Loudness in [0, 1] at `times` (s): RMS in dB relative to the peak frame, 0 at -range_db."""
    cfg = cfg or ProsodyConfig()
    rms = np.sqrt((_frames(audio.samples, audio.rate, times, 0.03) ** 2).mean(1) + 1e-12)
    db = 20 * np.log10(rms / max(rms.max(), 1e-9))
    return np.clip(1 + db / cfg.range_db, 0, 1)


def pitch(audio: Audio, times: np.ndarray, fmin: float = 70.0, fmax: float = 400.0) -> np.ndarray:
    """F0 in Hz at `times`, NaN where unvoiced (normalised autocorrelation peak below 0.5, or quiet)."""
    x = audio.samples.astype(np.float64)
    W = _frames(x, audio.rate, times, 0.04)
    W = W - W.mean(1, keepdims=True)
    n = W.shape[1]
    spec = np.fft.rfft(W * np.hanning(n), 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:, :n]
    lo, hi = int(audio.rate / fmax), min(int(audio.rate / fmin), n - 1)
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    lag = lo + ac[:, lo:hi].argmax(1)
    peak = ac[np.arange(len(lag)), lag]
    f0 = audio.rate / lag.astype(np.float64)
    energy = np.sqrt((W**2).mean(1))
    voiced = (peak > 0.5) & (energy > 0.05 * max(energy.max(), 1e-9))
    return np.where(voiced, f0, np.nan)


def smooth(x: np.ndarray, fps: float, seconds: float) -> np.ndarray:
    """Zero-phase exponential smoothing (forward and backward) with time constant `seconds`, along axis 0."""
    y = np.array(x, dtype=np.float64)
    if seconds <= 0 or len(y) < 2:
        return y
    a = 1 - math.exp(-1.0 / (seconds * fps))
    for order in (range(1, len(y)), range(len(y) - 2, -1, -1)):  # forward, then backward: no lag
        prev = order.start - order.step
        for i in order:
            y[i] = y[prev] + a * (y[i] - y[prev])
            prev = i
    return y


def semitones(f0: np.ndarray, fps: float) -> np.ndarray:
    """Pitch contour in semitones from the median voiced F0, filled across unvoiced frames and smoothed (0 where the
    clip has no voice)."""
    voiced = np.isfinite(f0)
    if voiced.sum() < 2:
        return np.zeros(len(f0))
    st = 12 * np.log2(f0[voiced] / np.median(f0[voiced]))
    filled = np.interp(np.arange(len(f0)), np.nonzero(voiced)[0], st)
    return smooth(filled, fps, 0.15)


def head_motion(loud: np.ndarray, st: np.ndarray, fps: float, cfg: ProsodyConfig | None = None) -> np.ndarray:
    """Head rotation F x 3 (axis-angle, radians): nods on stresses, turns and tilts following intonation."""
    cfg = cfg or ProsodyConfig()
    stress = np.clip(smooth(loud, fps, 0.06) - smooth(loud, fps, 0.6), 0, None)
    nod = math.radians(cfg.nod_deg) * np.clip(smooth(stress, fps, 0.08) / 0.25, 0, 1)
    swing = np.clip(smooth(st, fps, 0.5) / cfg.swing_semitones, -1, 1)
    turn = math.radians(cfg.turn_deg) * swing
    tilt = math.radians(cfg.tilt_deg) * np.clip(smooth(st, fps, 0.3) - smooth(st, fps, 1.5), -1, 1)
    return np.stack([nod, turn, tilt], -1)


def blink_curve(frames: int, fps: float, seed: int = 0, cfg: ProsodyConfig | None = None) -> np.ndarray:
    """eyeBlink value F in [0, 1] (both eyes) with natural timing, reproducible for a seed."""
    cfg = cfg or ProsodyConfig()
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    out = np.zeros(frames)
    shape = 4.0  # gamma shape: fairly regular, occasionally quick doubles are cut by blink_min
    at = rng.uniform(0.3, cfg.blink_mean)
    close, hold, open_ = 0.07, 0.03, 0.13
    while frames and at < t[-1]:
        d = t - at
        v = np.where(d < 0, 0, np.where(d < close, d / close, np.where(d < close + hold, 1.0,
                     np.clip(1 - (d - close - hold) / open_, 0, 1))))  # fmt: skip
        out = np.maximum(out, v)
        at += max(cfg.blink_min, rng.gamma(shape, cfg.blink_mean / shape))
    return out


__all__ = ["ProsodyConfig", "loudness", "pitch", "semitones", "head_motion", "blink_curve", "smooth"]
