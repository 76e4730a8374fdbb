"""Writing frame sequences to video files: mp4 (H.264, yuv420p, through imageio-ffmpeg's own ffmpeg) and gif.

Writes are atomic: frames go to a temporary file next to the target, renamed over it only when complete, so an
interrupted run never leaves a half-written video under the requested name. An mp4 can carry a sound track (mono
samples and their rate, e.g. the speech that drives a talking avatar): it is cut or padded with silence to the
frames' duration exactly (frames / fps) and muxed in as AAC, so picture and sound start and end together.
"""

from __future__ import annotations

import os
import subprocess
import wave
from pathlib import Path
from typing import Iterable

import numpy as np

from renderers.errors import RenderError
from renderers.io import atomic_path

VIDEO_EXTENSIONS = (".mp4", ".gif")


def _as_frame(frame: np.ndarray) -> np.ndarray:
    """Validate one frame: H x W x 3 uint8 (float frames in [0, 1] are converted)."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise RenderError(f"video frames must be H x W x 3, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        frame = np.clip(np.rint(frame.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return frame


def _pad_even(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: pad an odd height or width with one black row/column."""
    H, W = frame.shape[:2]
    if H % 2 == 0 and W % 2 == 0:
        return frame
    return np.pad(frame, ((0, H % 2), (0, W % 2), (0, 0)))


def check_video_path(path: str | Path) -> Path:
    """Check that `path` has a supported extension and that its folder exists (creating it) and is writable."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise RenderError(f"cannot write video {path}: unknown extension {path.suffix!r}, use .mp4 or .gif")
    if path.is_dir():
        raise RenderError(f"cannot write video {path}: it is a folder, give a file name ending in .mp4 or .gif")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RenderError(f"cannot create the folder {path.parent} for {path.name}: {e.strerror}; choose another path")
    if not os.access(path.parent, os.W_OK):
        raise RenderError(f"cannot write into {path.parent}: no permission, choose another output path")
    return path


def _write_mp4(tmp: str, frames: Iterable[np.ndarray], fps: float) -> int:
    import imageio.v2 as imageio

    writer = imageio.get_writer(
        tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1,
        output_params=["-movflags", "+faststart"], ffmpeg_log_level="error",
    )  # fmt: skip
    n, size = 0, None
    try:
        for frame in frames:
            frame = _pad_even(_as_frame(frame))
            if size is not None and frame.shape != size:
                raise RenderError(f"all video frames must have one size: frame {n} is {frame.shape}, not {size}")
            size = frame.shape
            writer.append_data(frame)
            n += 1
    finally:
        writer.close()
    return n


def _write_gif(tmp: str, frames: Iterable[np.ndarray], fps: float) -> int:
    import imageio.v3 as iio

    stack = [_as_frame(f) for f in frames]
    if stack:
        if any(f.shape != stack[0].shape for f in stack):
            raise RenderError("all video frames must have one size")
        iio.imwrite(tmp, np.stack(stack), extension=".gif", duration=1000.0 / fps, loop=0)
    return len(stack)


def _mux_audio(video: str, audio: tuple[np.ndarray, int], seconds: float) -> None:
    """Replace `video` (an mp4 without sound) by itself plus `audio` (samples N, rate) cut or padded to `seconds`."""
    import imageio_ffmpeg

    samples, rate = np.asarray(audio[0], dtype=np.float32).reshape(-1), int(audio[1])
    n = int(round(seconds * rate))
    pcm = np.zeros(n, np.float32)
    pcm[: min(n, len(samples))] = samples[:n]
    base = video[: -len(".mp4")]
    wav, out = base + ".sound.wav", base + ".muxed.mp4"
    try:
        with wave.open(wav, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes((np.clip(pcm, -1, 1) * 32767).round().astype("<i2").tobytes())
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-i", video, "-i", wav,
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
               "-t", f"{seconds:.6f}", "-movflags", "+faststart", out]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode != 0:
            raise RenderError(f"could not add the sound to the video: {r.stderr.decode(errors='replace').strip()}")
        os.replace(out, video)
    finally:
        for leftover in (wav, out):
            if os.path.exists(leftover):
                os.remove(leftover)


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float = 30.0,
    audio: tuple[np.ndarray, int] | None = None,
) -> int:
    """Write frames (each H x W x 3 uint8, or float in [0, 1]) to `path` (.mp4 H.264 or .gif), atomically.

    Frames are consumed one at a time for mp4 (memory stays bounded). `audio`: (mono samples in [-1, 1], sample
    rate) to mux into an mp4, fitted to the frames' duration. Returns the number of frames written.
    """
    path = check_video_path(path)
    if not fps > 0:
        raise RenderError(f"video fps must be positive, got {fps}")
    if audio is not None and path.suffix.lower() != ".mp4":
        raise RenderError(f"cannot put sound into {path}: a {path.suffix} has no sound track, write an .mp4")
    writer = _write_mp4 if path.suffix.lower() == ".mp4" else _write_gif
    with atomic_path(path) as tmp:
        n = writer(str(tmp), frames, fps)
        if n == 0:
            raise RenderError(f"no frames to write to {path}: check the frame range")
        if audio is not None:
            _mux_audio(str(tmp), audio, n / fps)
    return n


__all__ = ["write_video", "check_video_path", "VIDEO_EXTENSIONS"]
