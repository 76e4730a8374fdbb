"""Text to speech offline with espeak-ng (`--say "TEXT"`): a US-English voice, then the speech path as for a
recording, aligned to the text it spoke. espeak-ng is a system program: `apt-get install espeak-ng` (Debian,
Ubuntu), `brew install espeak-ng` (macOS)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from dreamavatar.errors import UserError
from dreamavatar.face.audio import Audio, load_audio

INSTALL = "apt-get install espeak-ng (Debian/Ubuntu) or brew install espeak-ng (macOS)"


def espeak() -> str:
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise UserError(f"--say needs espeak-ng, which is not installed: {INSTALL}")
    return exe


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 165) -> Audio:
    """Speak `text` with espeak-ng; returns the sound at the voice's own rate (22.05 kHz)."""
    if not text or not text.strip():
        raise UserError('--say got no text: give the sentence to speak, e.g. --say "Hello there"')
    with tempfile.TemporaryDirectory(prefix="dreamavatar-say-") as tmp:
        wav = Path(tmp) / "say.wav"
        cmd = [espeak(), "-v", voice, "-s", str(words_per_minute), "-w", str(wav), "--stdin"]
        r = subprocess.run(cmd, input=text.encode(), capture_output=True)
        if r.returncode != 0 or not wav.is_file():
            raise UserError(f"espeak-ng could not speak the text ({r.stderr.decode(errors='replace').strip()}): "
                            f"check the voice {voice!r} (espeak-ng --voices=en)")  # fmt: skip
        return load_audio(wav, rate=None)


__all__ = ["synthesize", "espeak", "INSTALL"]
