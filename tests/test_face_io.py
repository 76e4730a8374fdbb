"""Face tracks on motions and in files: resampling, the project's own npz/json curve files, Live Link Face CSVs
(written out by hand here), SMPL-X jaws from AMASS, emotions, and the errors a user can cause."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dreamavatar.body.face import ARKIT_NAMES, CURVE_INDEX, NUM_CURVES
from dreamavatar.errors import UserError
from dreamavatar.motion import load_motion
from dreamavatar.motion.face import FaceTrack


def _track(frames: int = 20, fps: float = 30.0) -> FaceTrack:
    t = torch.arange(frames, dtype=torch.float32) / fps
    curves = torch.zeros(frames, NUM_CURVES)
    curves[:, CURVE_INDEX["jawOpen"]] = 0.5 + 0.5 * torch.sin(2 * math.pi * t)
    curves[:, CURVE_INDEX["eyeBlinkLeft"]] = t / t.max()
    head = torch.stack([0.1 * torch.sin(t), 0.2 * t, torch.zeros_like(t)], -1)
    return FaceTrack(curves, fps, head, torch.zeros(frames, 2, 3))


def test_resample_keeps_the_curves_in_time():
    tr = _track(31, 30.0)
    up = tr.resample(60.0)
    assert len(up) == 62 and up.fps == 60
    assert torch.allclose(up.curves[::2][:31], tr.curves, atol=1e-6)  # even frames are the original ones
    mid = (tr.curves[3] + tr.curves[4]) / 2
    assert torch.allclose(up.curves[7], mid, atol=1e-6)  # odd frames halfway between
    assert torch.allclose(up.head[::2][:31], tr.head, atol=1e-5)


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_motion_files_carry_the_face(tmp_path, suffix):
    motion = load_motion("wave").slice(0, 20)
    motion.face = _track(20)
    path = motion.save(tmp_path / f"talk{suffix}")
    back = load_motion(path)
    assert torch.allclose(back.poses, motion.poses, atol=1e-5) and back.face is not None
    assert torch.allclose(back.face.curves, motion.face.curves, atol=1e-5)
    assert torch.allclose(back.face.head, motion.face.head, atol=1e-5)
    # resampling and slicing keep body and face together
    half = back.resample(15.0)
    assert len(half.face) == len(half) and torch.allclose(half.face.curves[1], back.face.curves[2], atol=1e-5)
    assert len(back.frames("5:9").face) == 4


def test_hand_written_json_names_only_some_curves(tmp_path):
    from dreamavatar.face.inputs import load_face_file

    path = tmp_path / "edit.json"
    path.write_text(json.dumps({"face_fps": 10, "face": {"jawOpen": [0, 0.5, 1.0], "mouthSmileLeft": [1, 1, 1]}}))
    tr = load_face_file(path)
    assert tr.fps == 10 and len(tr) == 3
    assert tr.curve("jawOpen").tolist() == [0, 0.5, 1.0] and tr.curve("browInnerUp").abs().max() == 0
    path.write_text(json.dumps({"face": {"jawOpenn": [0, 1]}}))
    with pytest.raises(UserError, match="unknown curves"):
        load_face_file(path)


def test_with_face_loops_the_body_to_the_speech():
    body = load_motion("idle").slice(0, 30)
    talk = _track(75)
    m = body.with_face(talk)
    assert len(m) == 75 and torch.equal(m.poses[30], body.poses[0]) and torch.equal(m.face.curves, talk.curves)
    assert m.face_pose(10).curves.shape == (1, NUM_CURVES)


LIVE_LINK = """Timecode,BlendShapeCount,EyeBlinkLeft,JawOpen,MouthSmileLeft,HeadYaw,HeadPitch,HeadRoll
00:00:01:58.000,61,0.0,0.25,0.1,0.0,0.0,0.0
00:00:01:59.000,61,0.5,0.5,0.1,0.1,0.0,0.0
00:00:02:00.000,61,1.0,0.75,0.1,0.2,0.0,0.0
00:00:02:01.000,61,0.5,1.0,0.1,0.3,0.0,0.0
"""


def test_reads_a_live_link_face_csv(tmp_path):
    from dreamavatar.face.livelink import read_live_link

    path = tmp_path / "take.csv"
    path.write_text(LIVE_LINK)
    tr = read_live_link(path)
    assert tr.fps == 60.0 and len(tr) == 4  # frame numbers up to 59: a 60 fps take
    assert tr.curve("jawOpen").tolist() == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert tr.curve("eyeBlinkLeft")[2] == 1.0 and tr.curve("browInnerUp").abs().max() == 0
    yaw = tr.head[:, 1]  # yaw only: a rotation about +y
    assert yaw.tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=1e-6)


def test_live_link_round_trip_and_layout(tmp_path):
    from dreamavatar.face.livelink import read_live_link, write_live_link

    tr = _track(50, 60.0)
    path = write_live_link(tr, tmp_path / "out.csv")
    rows = path.read_text().splitlines()
    header = rows[0].split(",")
    assert header[0] == "Timecode" and header[-1] == "RightEyeRoll" and len(header) == 2 + 52 + 9
    assert {h.lower() for h in header[2:54]} == {n.lower() for n in ARKIT_NAMES}
    assert rows[1].split(",")[0] == "00:00:00:00.000" and rows[-1].split(",")[0] == "00:00:00:49.000"
    back = read_live_link(path)
    assert torch.allclose(back.curves, tr.curves, atol=1e-5) and torch.allclose(back.head, tr.head, atol=1e-5)


def test_amass_smplx_jaw_becomes_jaw_open(tmp_path):
    from dreamavatar.body.face import JAW_OPEN_ANGLE

    F = 10
    poses = np.zeros((F, 165))
    poses[:, 66] = np.linspace(0, 2 * JAW_OPEN_ANGLE, F)  # jaw about +x: opening, beyond the full range at the end
    path = tmp_path / "smplx.npz"
    np.savez(path, poses=poses, trans=np.zeros((F, 3)), mocap_frame_rate=np.float64(30))
    m = load_motion(path)
    jaw = m.face.curve("jawOpen").numpy()
    assert jaw[0] == 0 and jaw[2] == pytest.approx(2 * 2 / 9, abs=1e-5) and jaw[-1] == 1.0
    h = tmp_path / "smplh.npz"
    np.savez(h, poses=np.zeros((F, 156)), trans=np.zeros((F, 3)), mocap_framerate=np.float64(30))
    assert load_motion(h).face is None  # SMPL-H has no jaw


def test_emotions():
    from dreamavatar.face.emotion import EMOTIONS, blend, emotion_curves
    from dreamavatar.face.visemes import MOUTH_CURVES

    assert EMOTIONS == ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")
    happy = emotion_curves("happy")
    assert happy[CURVE_INDEX["mouthSmileLeft"]] > 0.5 and emotion_curves("neutral").max() == 0
    assert emotion_curves("sad:0.5")[CURVE_INDEX["browInnerUp"]] == pytest.approx(0.35)
    for bad in ("grumpy", "happy:2", "happy:x"):
        with pytest.raises(UserError, match="emotion"):
            emotion_curves(bad)
    speech = np.zeros((2, NUM_CURVES))
    speech[1, CURVE_INDEX["jawOpen"]] = 0.7  # frame 0 quiet, frame 1 speaking
    mouth = [CURVE_INDEX[n] for n in MOUTH_CURVES]
    out = blend(speech, emotion_curves("surprised"), mouth)
    jaw = CURVE_INDEX["jawOpen"]
    assert out[0, jaw] == pytest.approx(0.3) and out[1, jaw] == pytest.approx(0.7)  # speech wins on the mouth
    assert out[1, CURVE_INDEX["eyeWideLeft"]] == pytest.approx(0.8)  # the eyes keep the expression


def test_bad_face_inputs_exit_2(tmp_path, capsys):
    from dreamavatar.cli import main
    from renderers.video import write_video

    silent_video = tmp_path / "silent.mp4"
    write_video(silent_video, [np.zeros((16, 16, 3), np.uint8)] * 3, 30)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    no_columns = tmp_path / "take.csv"
    no_columns.write_text("Timecode,Foo,Bar\n00:00:00:00.000,1,2\n")
    out = str(tmp_path / "c.csv")
    cases = [
        (["--speech", str(silent_video)], "no audio stream"),
        (["--speech", str(empty)], "is empty"),
        (["--face", str(no_columns)], "no blendshape columns"),
        (["--emotion", "grumpy"], "unknown emotion"),
    ]
    for options, message in cases:
        capsys.readouterr()
        assert main(["face-curves", *options, "--out", out]) == 2, options
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "c.csv").exists()


def test_missing_speech_tools_name_their_install_command(monkeypatch):
    import sys

    from dreamavatar.face import phonemes, tts
    from dreamavatar.face.audio import Audio

    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # `import pocketsphinx` now fails
    phonemes._phone_decoder.cache_clear()
    with pytest.raises(UserError, match=r"pip install 'dreamavatar\[speech\]'"):
        phonemes.recognize(Audio(np.ones(1600, np.float32) * 0.1, 16000))
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="apt-get install espeak-ng"):
        tts.synthesize("hello")
