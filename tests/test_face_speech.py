"""Speech -> face curves on speech synthesised here with espeak-ng (pauses included), measured against the sound
itself, pocketsphinx's forced alignment and anny's mesh. Skips without espeak-ng or pocketsphinx (README: Talking
avatars)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

from dreamavatar.body.face import CURVE_INDEX, FacePose
from dreamavatar.body.skeleton import a_pose

ESPEAK = shutil.which("espeak-ng")
pytest.importorskip("pocketsphinx")
pytestmark = pytest.mark.skipif(ESPEAK is None, reason="needs espeak-ng (apt-get install espeak-ng)")

SENTENCE = "Bob bought a map of Boston. Maybe my mom will pay. Please pass the paper plate."
SSML = ('<speak>Bob bought a map of Boston. <break time="600ms"/> Maybe my mom will pay. <break time="600ms"/> '
        "Please pass the paper plate.</speak>")  # fmt: skip
FPS = 30.0


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    path = tmp_path_factory.mktemp("speech") / "talk.wav"
    subprocess.run([ESPEAK, "-m", "-v", "en-us", "-s", "160", "-w", str(path), SSML], check=True)
    return path


@pytest.fixture(scope="module")
def sound(talk):
    from dreamavatar.face.audio import load_audio

    return load_audio(talk, rate=None)


@pytest.fixture(scope="module")
def recognised(sound):
    from dreamavatar.face.speech import SpeechConfig, speech_track

    return speech_track(sound, None, SpeechConfig(fps=FPS))


@pytest.fixture(scope="module")
def aligned(sound):
    from dreamavatar.face.speech import SpeechConfig, analyse, speech_curves

    cfg = SpeechConfig(fps=100.0)
    a = analyse(sound, SENTENCE, cfg)
    return a, speech_curves(a, cfg)


def _windows(x: np.ndarray, rate: float, n: int, hz: float) -> np.ndarray:
    """RMS of consecutive 1 / hz windows of samples x: n."""
    w = rate / hz
    return np.array([np.sqrt(np.mean(x[int(i * w) : int((i + 1) * w)] ** 2)) for i in range(n)])


def test_jaw_follows_the_loudness_envelope(recognised, sound):
    n = int(sound.duration * 10)
    envelope = _windows(sound.samples, sound.rate, n, 10.0)
    jaw = recognised.curve("jawOpen").numpy()
    per = int(FPS / 10)
    jaw10 = np.array([jaw[i * per : (i + 1) * per].mean() for i in range(n)])
    r = np.corrcoef(envelope, jaw10)[0, 1]
    assert r >= 0.6, r


def test_mouth_is_closed_in_silence(recognised, sound):
    jaw = recognised.curve("jawOpen").numpy()
    frame_rms = _windows(sound.samples, sound.rate, len(jaw), FPS)
    silent = frame_rms < 0.01 * frame_rms.max()
    assert silent.sum() > 20  # the pauses and the ends
    assert (jaw[silent] < 0.1).mean() >= 0.9


def test_bilabials_close_the_lips_on_anny(aligned, anny_body):
    """Where the aligner says p, b or m, anny's lips (posed with the curves) meet; on open vowels they part."""
    from tests.test_face_body import lip_gap

    a, curves = aligned
    mids = {"PP": [], "open": []}
    for p in a.phones:
        k = min(int((p.start + p.end) / 2 * 100), len(curves) - 1)
        if p.phone in ("P", "B", "M"):
            mids["PP"].append(k)
        elif p.phone in ("AA", "AE", "AO", "AW"):
            mids["open"].append(k)
    assert len(mids["PP"]) >= 10 and len(mids["open"]) >= 3
    gaps = {}
    for kind, frames in mids.items():
        c = torch.from_numpy(curves[frames]).float()
        out = anny_body(a_pose(len(frames)), face=FacePose(curves=c))
        gaps[kind] = lip_gap(anny_body, out).numpy()
    assert (gaps["PP"] < 0.002).mean() >= 0.9, gaps["PP"]
    assert np.median(gaps["open"]) > 0.006, gaps["open"]


def test_viseme_onsets_follow_the_aligner(aligned):
    """Each aligned phone's viseme takes over the mouth (the largest weight when the curves are split into viseme
    poses by non-negative least squares) within 60 ms of the phone's onset (median)."""
    from scipy.optimize import nnls

    from dreamavatar.face.visemes import MOUTH_CURVES, PHONE_VISEME, VISEME_INDEX, VISEME_POSES

    a, curves = aligned
    mouth = [CURVE_INDEX[n] for n in MOUTH_CURVES]
    P = VISEME_POSES[:, mouth]
    W = np.stack([nnls(P.T, c[mouth])[0] for c in curves])
    W[:, VISEME_INDEX["sil"]] = 0
    dominant = np.where(W.max(1) > 0.2, W.argmax(1), VISEME_INDEX["sil"])
    t = a.times - 0.005  # frame starts
    errors, phones = [], 0
    for p in a.phones:
        if p.phone == "SIL":
            continue
        phones += 1
        v = PHONE_VISEME[p.phone]
        v = VISEME_INDEX[v[0] if isinstance(v, tuple) else v]
        near = np.nonzero(np.abs(t - p.start) <= 0.15)[0]
        onsets = [i for i in near if dominant[i] == v and (i == 0 or dominant[i - 1] != v)]
        if onsets:
            errors.append(min(abs(t[i] - p.start) for i in onsets))
    assert len(errors) >= 0.7 * phones, (len(errors), phones)
    assert np.median(errors) <= 0.06, np.median(errors)


def test_any_rate_stereo_and_flac_read_alike(talk, recognised, tmp_path):
    sox = shutil.which("sox")
    if sox is None:
        pytest.skip("needs sox (apt-get install sox)")
    from dreamavatar.face.audio import load_audio
    from dreamavatar.face.speech import SpeechConfig, speech_track

    stereo = tmp_path / "stereo44.wav"
    flac = tmp_path / "talk.flac"
    subprocess.run([sox, str(talk), "-r", "44100", "-c", "2", str(stereo)], check=True)
    subprocess.run([sox, str(talk), str(flac)], check=True)
    jaw = recognised.curve("jawOpen").numpy()
    for path in (stereo, flac):
        other = speech_track(load_audio(path, rate=None), None, SpeechConfig(fps=FPS)).curve("jawOpen").numpy()
        n = min(len(jaw), len(other))
        assert abs(len(jaw) - len(other)) <= 1
        assert np.corrcoef(jaw[:n], other[:n])[0, 1] > 0.9


def test_blinks_and_head_motion(recognised, sound):
    blink = recognised.curve("eyeBlinkLeft").numpy()
    closes = np.nonzero((blink[1:] > 0.5) & (blink[:-1] <= 0.5))[0]
    assert 1 <= len(closes) <= sound.duration / 1.2 + 1  # natural rate: never closer than 1.2 s
    assert torch.equal(recognised.curve("eyeBlinkLeft"), recognised.curve("eyeBlinkRight"))
    head = recognised.head.numpy()
    assert 0.005 < np.abs(head).max() < np.radians(10)  # a few degrees, not still and not wild


def test_say_speaks_with_espeak_and_aligns(tmp_path):
    from dreamavatar.face.inputs import FaceInputs, speech_face

    result = speech_face(FaceInputs(say="Hello there, my friend."), 30.0)
    assert result.audio is not None and result.audio.duration > 0.8
    assert len(result.track) == round(result.audio.duration * 30)
    assert result.track.curve("jawOpen").max() > 0.2


def test_face_curves_command_writes_live_link_csv(talk, tmp_path, capsys):
    from dreamavatar.cli import main
    from dreamavatar.face.livelink import read_live_link

    out = tmp_path / "curves.csv"
    assert main(["face-curves", "--speech", str(talk), "--transcript", SENTENCE, "--emotion", "happy:0.5",
                 "--out", str(out)]) == 0  # fmt: skip
    assert capsys.readouterr().out.strip() == str(out)
    header = out.read_text().splitlines()[0].split(",")
    assert header[:4] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft"] and len(header) == 63
    track = read_live_link(out)
    assert track.fps == 60 and abs(track.duration - 6.1) < 0.3
    assert track.curve("jawOpen").max() > 0.3 and track.curve("mouthSmileLeft").min() > 0.05  # happy throughout
