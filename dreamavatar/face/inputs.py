"""The face inputs of the command line and scene files, turned into a face track and combined with a body motion.

    --speech FILE   a recording (wav, or mp3/flac/... through ffmpeg); --transcript "TEXT" aligns its known words
    --say "TEXT"    speech synthesised by espeak-ng, aligned to the text
    --emotion NAME[:INTENSITY]   neutral, happy, sad, angry, surprised, fearful, disgusted (intensity 0..1)
    --face FILE     a Live Link Face .csv, or the project's own face-curve file (.json / .npz, `Motion.save`)

Speech and face files set the clip's length (the body motion is looped to it); an emotion is blended over whatever
face there is (or the body motion's own face, or none), speech winning on the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dreamavatar.errors import UserError
from dreamavatar.face.audio import Audio
from dreamavatar.motion.face import FaceTrack

from dreamavatar.face import FACE_FILES


@dataclass
class FaceInputs:
    speech: str | None = None
    transcript: str | None = None
    say: str | None = None
    emotion: str | None = None
    face: str | None = None
    seed: int = 0  # blink timing

    def any(self) -> bool:
        return any((self.speech, self.say, self.emotion, self.face))

    def check(self) -> None:
        """Cheap checks of the options themselves, before anything is loaded or written."""
        from dreamavatar.face.emotion import parse_emotion

        if self.speech and self.say:
            raise UserError("give either --speech FILE or --say TEXT, not both")
        if self.face and (self.speech or self.say):
            raise UserError("give either --face FILE (captured curves) or --speech/--say, not both")
        if self.transcript and not self.speech:
            raise UserError("--transcript goes with --speech FILE (it names the words spoken in the recording)")
        if self.emotion:
            parse_emotion(self.emotion)
        for option, value in (("--speech", self.speech), ("--face", self.face)):
            if value and not Path(value).expanduser().is_file():
                raise UserError(f"{option} {value}: no such file; give the path of an existing file")
        if self.face and Path(self.face).suffix.lower() not in (".csv", ".json", ".npz"):
            raise UserError(f"--face {self.face}: unknown format; give {FACE_FILES}")


@dataclass
class FaceResult:
    """A face track (None: no face input) and the sound that goes with it (None: silent)."""

    track: FaceTrack | None
    audio: Audio | None


def load_face_file(path: str | Path, fps: float | None = None) -> FaceTrack:
    """A face track from a Live Link Face CSV or a face-curve / motion file with face curves."""
    from dreamavatar.face.livelink import read_live_link
    from dreamavatar.motion.face import track_from_arrays

    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_live_link(path)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as e:
            raise UserError(f"face file {path} is not a readable npz ({e}): write it with Motion.save") from None
    elif suffix == ".json":
        import json

        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"face file {path} is not readable JSON ({e}): fix its syntax") from None
        if not isinstance(data, dict):
            raise UserError(f"face file {path} is not a JSON object with a `face` entry")
    else:
        raise UserError(f"face file {path}: unknown format; give {FACE_FILES}")
    track = track_from_arrays(path, data, fps)
    if track is None:
        raise UserError(f"face file {path} holds no face curves (face_curves, or a `face` object of named curves)")
    return track


def speech_face(inputs: FaceInputs, fps: float) -> FaceResult:
    """The track and sound of --speech / --say (None, None without them)."""
    from dreamavatar.face.audio import load_audio
    from dreamavatar.face.speech import SpeechConfig, speech_track

    cfg = SpeechConfig(fps=fps, seed=inputs.seed)
    if inputs.speech:
        original = load_audio(inputs.speech, rate=None)
        return FaceResult(speech_track(original, inputs.transcript, cfg), original)
    if inputs.say:
        from dreamavatar.face.phonemes import transcript_words
        from dreamavatar.face.tts import synthesize

        original = synthesize(inputs.say)
        try:
            transcript_words(inputs.say)  # names missing from the dictionary: recognise instead of aligning
            return FaceResult(speech_track(original, inputs.say, cfg), original)
        except UserError:
            return FaceResult(speech_track(original, None, cfg), original)
    return FaceResult(None, None)


def build_face(inputs: FaceInputs, fps: float, base: FaceTrack | None = None, frames: int | None = None) -> FaceResult:
    """Face track at `fps` from the inputs, over `base` (a motion's own face) if they give none of their own; an
    emotion alone lasts `frames` frames (or `base`'s length)."""
    from dreamavatar.face.emotion import blend, emotion_curves
    from dreamavatar.face.visemes import MOUTH_CURVES
    from dreamavatar.body.face import CURVE_INDEX, NUM_CURVES

    result = speech_face(inputs, fps)
    if result.track is None and inputs.face:
        result = FaceResult(load_face_file(inputs.face).resample(fps), None)
    if result.track is None and base is not None:
        result = FaceResult(base.resample(fps), None)
    if inputs.emotion:
        expression = emotion_curves(inputs.emotion)
        track = result.track
        if track is None:
            track = FaceTrack(torch.zeros(frames or 1, NUM_CURVES), fps)
        mouth = [CURVE_INDEX[n] for n in MOUTH_CURVES]
        curves = blend(track.curves.double().numpy(), expression, mouth)
        result = FaceResult(track.with_curves(torch.from_numpy(curves)), result.audio)
    return result


def apply_face(motion, inputs: FaceInputs):
    """(motion with its face, sound or None). Speech and face files set the length; the body is looped to it."""
    if not inputs.any():
        return motion, None
    result = build_face(inputs, motion.fps, motion.face, len(motion))
    if result.track is None:
        return motion, None
    if inputs.emotion and not (inputs.speech or inputs.say or inputs.face) and len(result.track) != len(motion):
        result.track = result.track.index(range(len(motion)))
    return motion.with_face(result.track), result.audio


__all__ = ["FaceInputs", "FaceResult", "load_face_file", "build_face", "apply_face", "speech_face"]
