"""`dreamavatar skeleton`: a short video from a motion file, the framing of the views, and user errors (exit 2)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamavatar.cli import main

HAS_ANNY_BODY = importlib.util.find_spec("dreamavatar.body.anny_body") is not None
needs_anny = pytest.mark.skipif(not HAS_ANNY_BODY, reason="dreamavatar.body.anny_body (task A) is not there yet")
SHARED_DANCE = Path(__file__).resolve().parents[2] / "shared/data/motions/aist_dance_smplx265.npy"


@pytest.fixture(scope="module")
def motion_file(tmp_path_factory) -> Path:
    """12 frames in the SMPL-X 265-column layout (no fps recorded): the right arm waving, the body turning a bit."""
    n = 12
    data = np.zeros((n, 265))
    t = np.arange(n) / n
    data[:, 9 + 1] = 0.3 * np.sin(2 * np.pi * t)  # global orientation about y
    data[:, 12 + 3 * 16 + 2] = -math.pi / 4  # left shoulder down (A-pose)
    data[:, 12 + 3 * 15 + 2] = math.pi / 4 + 0.8 * np.sin(2 * np.pi * t)  # right shoulder waving
    path = tmp_path_factory.mktemp("motion") / "wave.npy"
    np.save(path, data)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["skeleton", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@needs_anny
def test_writes_video_of_the_clip(tmp_path, capsys, motion_file):
    import imageio.v2 as imageio

    out = tmp_path / "clip.mp4"
    code, stdout, stderr = _run(
        capsys, "--motion", str(motion_file), "--view", "orbit", "--size", "64", "--frames", "2:10", "--fps", "24",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.strip() == str(out)  # stdout holds the result only
    reader = imageio.get_reader(out)
    frames = [f for f in reader]
    assert len(frames) == 8 and frames[0].shape == (64, 64, 3)
    assert reader.get_meta_data()["fps"] == pytest.approx(24)
    assert all(f.max() > 100 for f in frames)  # a skeleton in every frame
    assert "\x1b[" not in stderr


@needs_anny
def test_front_view_frames_the_body(tmp_path, capsys, motion_file):
    import imageio.v3 as iio

    out = tmp_path / "front.gif"
    code, _, stderr = _run(capsys, "--motion", str(motion_file), "--size", "128", "--frames", "0:1", "--out", str(out))
    assert code == 0, stderr
    img = iio.imread(out)[0, ..., :3]
    rows = np.nonzero(img.max(-1).max(-1) > 40)[0]
    cols = np.nonzero(img.max(-1).max(0) > 40)[0]
    # the skeleton (eyes to ankles) spans most of the height, centred horizontally
    assert 0.6 * 128 < rows[-1] - rows[0] < 0.85 * 128
    assert abs((cols[0] + cols[-1]) / 2 - 64) < 8
    # front view: the right side of the body (right shoulder, orange) is on the image's left
    orange = np.all(np.abs(img.astype(int) - (255, 85, 0)) <= 30, -1)
    assert orange.any() and np.nonzero(orange)[1].mean() < 64


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--size", "100"], "multiple of 16"),
        (["--size", "0"], "multiple of 16"),
        (["--fps", "0"], "--fps"),
        (["--out-fps", "-3"], "--out-fps"),
    ],
)
def test_bad_options_exit_2(tmp_path, capsys, motion_file, argv, message):
    code, stdout, stderr = _run(capsys, "--motion", str(motion_file), "--out", str(tmp_path / "x.mp4"), *argv)
    assert code == 2 and stdout == ""
    assert message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.mp4").exists()


def test_missing_motion_file_exits_2(tmp_path, capsys):
    code, stdout, stderr = _run(capsys, "--motion", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "x.mp4"))
    assert code == 2 and stdout == "" and "nope.npz" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_bad_frames_exit_2(tmp_path, capsys, motion_file):
    for frames in ("a:b", "50:60"):
        code, _, stderr = _run(
            capsys, "--motion", str(motion_file), "--frames", frames, "--out", str(tmp_path / "x.mp4")
        )
        assert code == 2 and "frame" in stderr and len(stderr.strip().splitlines()) == 1


def test_unwritable_or_unknown_output_exit_2(tmp_path, capsys, motion_file):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for out, message in ((blocker / "x.mp4", "is a file, not a folder"), (tmp_path / "x.webm", ".mp4 or .gif")):
        code, stdout, stderr = _run(capsys, "--motion", str(motion_file), "--out", str(out))
        assert code == 2 and stdout == "" and message in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_view_cameras_face_the_body():
    from dreamavatar.condition import framing_radius, view_azimuths, view_cameras

    transl = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.3, -0.2]])
    cams = view_cameras("side", 64, 1.6, -0.05, transl)
    r = framing_radius(1.6)
    assert r == pytest.approx(1.6 / 0.8 / (2 * math.tan(math.radians(22.5))))
    # side = the body's left (+x), level, following x and z of the root but not its height
    assert torch.allclose(cams.centers, torch.tensor([[r, -0.05, 0.0], [0.5 + r, -0.05, -0.2]]), atol=1e-5)
    assert torch.allclose(view_azimuths("orbit", 4), torch.tensor([0.0, 90.0, 180.0, 270.0]))
    front = view_cameras("front", 64, 1.6, 0.0, n=1)
    assert front.centers[0, 2] > 0 and torch.allclose(front.c2w[0, :3, 2], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)


@needs_anny
@pytest.mark.skipif(not SHARED_DANCE.exists(), reason="the shared AIST dance clip is not in this checkout")
def test_shared_dance_clip(tmp_path, capsys):
    import imageio.v2 as imageio

    out = tmp_path / "dance.mp4"
    code, _, stderr = _run(capsys, "--motion", str(SHARED_DANCE), "--size", "32", "--frames", "230:", "--out", str(out))
    assert code == 0, stderr
    assert sum(1 for _ in imageio.get_reader(out)) == 10  # 240 frames at 30 fps, the last 10
