"""OpenPose drawing, occlusion-aware keypoint visibility, condition images of the anny body, and video writing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
import trimesh

from renderers.cameras import orbit_cameras, project
from renderers.errors import RenderError
from renderers.openpose import COLORS, EAR_KEYPOINTS, FACE_KEYPOINTS, LIMBS, NUM_KEYPOINTS
from renderers.skeleton import draw_openpose, keypoint_visibility, render_skeletons, stroke_sizes
from renderers.video import write_video

HAS_ANNY_BODY = importlib.util.find_spec("dreamavatar.body.anny_body") is not None
needs_anny = pytest.mark.skipif(not HAS_ANNY_BODY, reason="dreamavatar.body.anny_body (task A) is not there yet")
BODY_KEYPOINTS = [k for k in range(NUM_KEYPOINTS) if k not in FACE_KEYPOINTS]


def _only(visible_idx: list[int]) -> np.ndarray:
    v = np.zeros(NUM_KEYPOINTS, bool)
    v[visible_idx] = True
    return v


# ---- drawing ---------------------------------------------------------------------------------------------------


def test_limb_between_two_keypoints_has_its_colour():
    uv = np.zeros((NUM_KEYPOINTS, 2))
    uv[1] = (100.5, 200.5)  # neck
    uv[2] = (300.5, 200.5)  # right shoulder: limb 0 = (1, 2), pure red
    img = draw_openpose(uv, _only([1, 2]), 512, 512)
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    limb = np.rint(0.6 * np.asarray(COLORS[LIMBS.index((1, 2))]))  # 60 % over black
    for x in (150, 200, 250):
        assert tuple(img[200, x]) == tuple(limb)
        assert tuple(img[203, x]) == tuple(limb)  # half-width 4 px at 512 px
        assert img[208, x].sum() == 0 and img[192, x].sum() == 0
    assert tuple(img[200, 100]) == COLORS[1] and tuple(img[200, 300]) == COLORS[2]  # opaque dots on top
    black = np.ones((512, 512), bool)
    black[190:212, 90:312] = False
    assert img[black].sum() == 0  # nothing anywhere else


def test_dropped_keypoint_draws_neither_dot_nor_limbs():
    angle = np.linspace(0, 2 * np.pi, NUM_KEYPOINTS, endpoint=False)
    uv = 256 + 200 * np.stack([np.cos(angle), np.sin(angle)], -1)  # on a circle: dots apart, limbs are chords
    full = draw_openpose(uv, None, 512, 512)
    vis = np.ones(NUM_KEYPOINTS, bool)
    vis[2] = False  # right shoulder: its dot and limbs (1, 2) and (2, 3) vanish
    img = draw_openpose(uv, vis, 512, 512)
    red = np.all(full == np.rint(0.6 * np.asarray(COLORS[0])), -1)  # limb (1, 2)
    assert red.sum() > 20 and not np.all(img == np.rint(0.6 * np.asarray(COLORS[0])), -1).any()
    y, x = np.rint(uv[2] - 0.5).astype(int)[::-1]
    assert tuple(full[y, x]) == COLORS[2] and img[y, x].sum() == 0
    assert (img > 0).any()  # the other limbs are still drawn
    assert draw_openpose(uv, np.zeros(NUM_KEYPOINTS, bool), 64, 64).sum() == 0


def test_strokes_scale_with_image_size_and_float_output():
    assert stroke_sizes(512, 512) == (4.0, 4.0)
    assert stroke_sizes(256, 256) == (2.0, 2.0)
    uv = np.zeros((NUM_KEYPOINTS, 2))
    uv[1], uv[2] = (20.5, 40.5), (100.5, 40.5)
    img = draw_openpose(uv, _only([1, 2]), 128, 128, dtype="float")  # half-width 1 px
    assert img.dtype == np.float32 and img.max() <= 1.0
    assert img[40, 60, 0] == pytest.approx(0.6, abs=1e-6) and img[41, 60, 0] > 0 and img[42, 60].sum() == 0


def test_two_bodies_on_one_canvas():
    a, b = np.zeros((NUM_KEYPOINTS, 2)), np.zeros((NUM_KEYPOINTS, 2))
    a[8], a[9] = (40.5, 30.5), (40.5, 120.5)  # right hip -> right knee, limb 7
    b[11], b[12] = (200.5, 30.5), (200.5, 120.5)  # left hip -> left knee, limb 10
    img = draw_openpose([a, b], [_only([8, 9]), _only([11, 12])], 256, 256)
    assert tuple(img[80, 40]) == tuple(np.rint(0.6 * np.asarray(COLORS[LIMBS.index((8, 9))])))
    assert tuple(img[80, 200]) == tuple(np.rint(0.6 * np.asarray(COLORS[LIMBS.index((11, 12))])))
    with pytest.raises(RenderError, match="18 x 2"):
        draw_openpose(np.zeros((17, 2)), None, 64, 64)


# ---- occlusion with synthetic meshes --------------------------------------------------------------------------


def _box(center, extents) -> tuple[torch.Tensor, torch.Tensor]:
    m = trimesh.creation.box(extents=extents)
    return torch.tensor(m.vertices, dtype=torch.float32) + torch.tensor(center, dtype=torch.float32), torch.tensor(
        m.faces
    )


def test_face_keypoints_hidden_by_own_mesh_body_keypoints_only_by_others():
    cams = orbit_cameras(3.0, 90.0, 0.0, 50.0, 64)  # at +z looking down -z
    box_a = _box((0.0, 0.0, 0.0), (0.6, 0.6, 0.4))
    box_b = _box((3.0, 0.0, -1.0), (0.2, 0.2, 0.2))  # far to the side: hides nothing
    kp_a = torch.zeros(1, NUM_KEYPOINTS, 3)  # all inside box a, 0.2 m behind its front face
    kp_b = torch.zeros(1, NUM_KEYPOINTS, 3)
    kp_b[0, :, 2] = -1.0  # behind box a, seen through it
    kp_b[0, 9:, 0] = 0.8  # ... except keypoints 9.. which are beside it
    vis_a, vis_b = keypoint_visibility(cams, [kp_a, kp_b], [box_a, box_b])
    assert vis_a[0, BODY_KEYPOINTS].all() and not vis_a[0, list(FACE_KEYPOINTS)].any()  # self-occlusion: face only
    assert not vis_b[0, :9].any() and vis_b[0, 9:].all()  # another body hides body and face keypoints


def test_thresholds_ears_vs_nose_and_behind_camera():
    cams = orbit_cameras(3.0, 90.0, 0.0, 50.0, 64)
    plane = _box((0.0, 0.0, 0.5), (2.0, 2.0, 0.0001))  # a thin wall at z = 0.5 facing the camera
    kp = torch.zeros(1, NUM_KEYPOINTS, 3)
    kp[0, :, 2] = 0.5 - 0.015  # 1.5 cm behind the wall: ears (1.2 cm) drop, nose/eyes (2 cm) stay
    (vis,) = keypoint_visibility(cams, [kp], [plane])
    assert not vis[0, list(EAR_KEYPOINTS)].any()
    assert vis[0, [0, 14, 15]].all() and vis[0, BODY_KEYPOINTS].all()
    kp[0, :, 2] = 0.5 - 0.03
    assert not keypoint_visibility(cams, [kp], [plane])[0][0, list(FACE_KEYPOINTS)].any()
    kp[0, 3, 2] = 4.0  # behind the camera (at z = 3)
    assert not keypoint_visibility(cams, [kp], [])[0][0, 3]


# ---- the anny body ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canonical(anny_body):
    if not HAS_ANNY_BODY:
        pytest.skip("dreamavatar.body.anny_body (task A) is not there yet")
    return anny_body.canonical()


def _view(azimuth: float, size: int = 128):
    return orbit_cameras(3.0, 90.0, azimuth, 45.0, size)


@needs_anny
def test_front_view_draws_all_18_back_view_no_face(canonical):
    cams = orbit_cameras(3.0, 90.0, torch.tensor([0.0, 180.0]), 45.0, 128)
    images, (vis,) = render_skeletons(cams, [canonical.keypoints], [(canonical.vertices, canonical.faces)])
    assert images.shape == (2, 3, 128, 128) and images.dtype == torch.float32
    assert vis[0].all()
    assert not vis[1, list(FACE_KEYPOINTS)].any() and vis[1, BODY_KEYPOINTS].all()
    # the front image shows the nose -> eye limb's colour (limb 13), the back image none of the face limbs' colours
    front, back = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(int)
    for limb in ((0, 14), (0, 15), (14, 16), (15, 17)):
        colour = np.rint(0.6 * np.asarray(COLORS[LIMBS.index(limb)]))
        assert (np.abs(front - colour).sum(-1) <= 2).any()
        assert not (np.abs(back - colour).sum(-1) <= 2).any()


@needs_anny
def test_body_behind_another_loses_hidden_body_keypoints(anny_body, canonical):
    from dreamavatar.body.skeleton import a_pose

    back = anny_body(a_pose(1), torch.tensor([[0.0, 0.0, -1.0]]))  # straight behind the first, same pose
    cams = _view(0.0)
    keypoints = [canonical.keypoints, back.keypoints]
    meshes = [(canonical.vertices, canonical.faces), (back.vertices, back.faces)]
    _, (vis_front, vis_back) = render_skeletons(cams, keypoints, meshes)
    assert vis_front.all()
    hidden = ~vis_back[0]
    # the torso and leg keypoints of the back body lie behind the front body's torso and legs
    assert hidden[[1, 8, 9, 11, 12]].all() and hidden[list(FACE_KEYPOINTS)].all()
    # seen from the side, both bodies are in the clear except where the front one really is in the way
    _, (vis_front_side, _) = render_skeletons(_view(90.0), keypoints, meshes)
    assert vis_front_side[0, BODY_KEYPOINTS].all()


@needs_anny
def test_skeleton_image_matches_projected_keypoints(canonical):
    cams = _view(0.0, 256)
    images, _ = render_skeletons(cams, canonical.keypoints, [(canonical.vertices, canonical.faces)])
    uv = project(canonical.keypoints, cams)[0][0]
    img = (images[0].permute(1, 2, 0).numpy() * 255).round().astype(int)
    for k in (4, 7, 10, 13):  # wrists and ankles: dots in their own colour at the projected spot
        x, y = (uv[k] - 0.5).round().int().tolist()
        assert tuple(img[y, x]) == COLORS[k]


# ---- video ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_video_round_trip(tmp_path, ext):
    import imageio.v3 as iio

    frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(6)]
    path = tmp_path / "sub" / f"clip{ext}"
    assert write_video(path, iter(frames), fps=12) == 6
    back = iio.imread(path) if ext == ".gif" else np.stack(list(iio.imiter(path, plugin="FFMPEG")))
    assert back.shape[0] == 6 and back.shape[1:3] == (48, 64)
    assert np.abs(back[..., :3].astype(int).mean((1, 2, 3)) - 30 * np.arange(6)).max() < 4
    assert sorted(p.name for p in path.parent.iterdir()) == [f"clip{ext}"]  # no temporary file left


def test_video_odd_size_is_padded_and_bad_input_raises(tmp_path):
    import imageio.v2 as imageio

    path = tmp_path / "odd.mp4"
    write_video(path, [np.zeros((31, 45, 3), np.uint8)] * 3, fps=30)
    assert imageio.get_reader(path).get_meta_data()["size"] == (46, 32)
    with pytest.raises(RenderError, match=r"\.mp4 or \.gif"):
        write_video(tmp_path / "x.avi", [np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(RenderError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]
