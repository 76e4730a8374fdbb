"""Reading speech audio: any rate, mono or stereo, as float32 samples at the rate asked for.

PCM WAV files are read with Python's `wave` module; everything else (mp3, flac, ogg, m4a, float WAV, video files with
a sound track) through the ffmpeg that imageio-ffmpeg ships, so no audio library is needed. Channels are averaged to
mono; resampling is polyphase (scipy).
"""

from __future__ import annotations

import math
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamavatar.errors import UserError

SPEECH_RATE = 16000  # what pocketsphinx's acoustic model wants


@dataclass
class Audio:
    """samples: N float32 in [-1, 1] (mono); rate: samples per second."""

    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def at_rate(self, rate: int) -> Audio:
        """The same sound at another sample rate."""
        return Audio(resample(self.samples, self.rate, rate), rate)

    def pcm16(self) -> bytes:
        """16-bit little-endian PCM bytes."""
        return (np.clip(self.samples, -1, 1) * 32767).round().astype("<i2").tobytes()


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling by the FFT (exact for a periodic signal; the clip's ends are padded with zeros, and
    cheaper to import than scipy.signal, which takes seconds)."""
    if rate == target or len(x) == 0:
        return x.astype(np.float32)
    n = len(x)
    step = rate // math.gcd(rate, target)  # pads in whole multiples of this keep both grids aligned exactly
    front = step * math.ceil(0.05 * rate / step)  # >= 50 ms of silence each side keeps wrap-around off the speech
    total = step * math.ceil((n + 2 * front) / step)
    spec = np.fft.rfft(np.pad(x.astype(np.float64), (front, total - n - front)))
    out_total = total * target // rate
    keep = min(len(spec), out_total // 2 + 1)
    y = np.fft.irfft(spec[:keep], out_total) * (out_total / total)
    start, m = front * target // rate, int(round(n * target / rate))
    return y[start : start + m].astype(np.float32)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def load_audio(path: str | Path, rate: int | None = SPEECH_RATE) -> Audio:
    """Speech from a file, mono, resampled to `rate` (None keeps the file's rate). Raises UserError for a missing or
    empty file, a file with no sound track, or silence only (all samples zero)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"speech file {path} does not exist: give a .wav (or .mp3, .flac) recording")
    if path.stat().st_size == 0:
        raise UserError(f"speech file {path} is empty: give a recording with sound in it")
    audio = _read_wav(path) if path.suffix.lower() == ".wav" else None
    if audio is None:
        audio = _read_ffmpeg(path)
    if len(audio.samples) == 0 or not np.any(audio.samples):
        raise UserError(f"speech file {path} holds no sound (no samples, or silence only): give a recording of speech")
    return audio if rate is None else audio.at_rate(rate)


def _read_wav(path: Path) -> Audio | None:
    """PCM WAV by the standard library, or None for what it cannot read (float or compressed WAV: ffmpeg's job)."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate, n = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError, OSError):
        return None
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 8388608
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648
    else:
        return None
    x = x[: len(x) // channels * channels].reshape(-1, channels).mean(1)
    return Audio(x.astype(np.float32), rate)


def _read_ffmpeg(path: Path) -> Audio:
    """Decode with ffmpeg to mono float32 at the stream's own rate."""
    rate = _stream_rate(path)
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate),
           "-f", "f32le", "-"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        raise UserError(f"cannot read speech from {path} ({_first_line(r.stderr)}): give a .wav, .mp3 or .flac file")
    return Audio(np.frombuffer(r.stdout, "<f4").astype(np.float32), rate)


def _stream_rate(path: Path) -> int:
    """The sample rate of the file's first audio stream (ffmpeg's banner); UserError when there is none."""
    r = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True)
    text = r.stderr.decode(errors="replace")
    for line in text.splitlines():
        if "Audio:" in line:
            for part in line.split(","):
                if part.strip().endswith("Hz"):
                    return int(part.strip().split()[0])
            return SPEECH_RATE
    if "Invalid data" in text or "could not find codec" in text.lower():
        raise UserError(f"cannot read {path} as audio ({_first_line(r.stderr)}): give a .wav, .mp3 or .flac file")
    raise UserError(f"{path} has no audio stream: give a file with a sound track (a .wav, .mp3 or .flac recording)")


def _first_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "ffmpeg failed"


def mix(tracks: list[tuple[Audio, float]], duration: float, rate: int = 48000) -> Audio:
    """Sum of (audio, start seconds) tracks at `rate` over [0, duration), clipped to [-1, 1] (the sound of a scene)."""
    out = np.zeros(int(math.ceil(duration * rate)), np.float32)
    for audio, start in tracks:
        x = audio.at_rate(rate).samples
        s = int(round(start * rate))
        if s < 0:
            x, s = x[-s:], 0
        x = x[: max(0, len(out) - s)]
        out[s : s + len(x)] += x
    return Audio(np.clip(out, -1, 1), rate)


__all__ = ["Audio", "SPEECH_RATE", "load_audio", "mix", "resample", "ffmpeg_exe"]
