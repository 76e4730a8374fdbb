"""A headless browser (Debian's chromium) loads exported files in a three.js page served on localhost: a synthetic rigged
figure, a real exported avatar (GLB with its normals) and a VRM through @pixiv/three-vrm; the screenshots show the
figure standing on the floor grid. Skips where chromium or three.js is absent (see the README: `apt-get install
chromium`, `npm install --prefix .cache/three three@0.170.0 @pixiv/three-vrm@3.5.5`; CI does this)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dreamavatar.body.skeleton import PARENTS, a_pose, forward_kinematics
from dreamavatar.export.gltf import RiggedMesh, write_glb
from tools import needs

REPO = Path(__file__).resolve().parents[1]
THREE = Path(os.environ.get("DREAMAVATAR_THREE_DIR", REPO / ".cache/three/node_modules/three"))
THREE_VRM = THREE.parent / "@pixiv/three-vrm"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = needs(
    CHROMIUM is not None and (THREE / "build/three.module.js").is_file(),
    "needs Debian's chromium and three.js (npm install --prefix .cache/three three)",
)


def _stick_figure() -> RiggedMesh:
    """Capsules along the bones of the canonical skeleton, each skinned to its parent joint."""
    import trimesh

    J = forward_kinematics(a_pose(1))[0][0].double().numpy()
    vs, fs, ws, off = [], [], [], 0
    for j, p in enumerate(PARENTS):
        if p < 0:
            continue
        a, b = J[p], J[j]
        length = max(np.linalg.norm(b - a), 1e-3)
        c = trimesh.creation.capsule(height=length, radius=0.05)
        c.apply_transform(trimesh.geometry.align_vectors([0, 0, 1], (b - a) / length))
        c.apply_translation((a + b) / 2)
        w = np.zeros((len(c.vertices), 24))
        w[:, p] = 1
        vs.append(c.vertices), fs.append(c.faces + off), ws.append(w)
        off += len(c.vertices)
    v = np.concatenate(vs)
    return RiggedMesh(v, np.concatenate(fs), np.tile([[0.85, 0.15, 0.15]], (len(v), 1)), J, np.concatenate(ws))


@pytest.fixture()
def server(tmp_path):
    shutil.copy(REPO / "dreamavatar/export/viewer.html", tmp_path / "viewer.html")
    os.symlink(THREE, tmp_path / "three")
    if THREE_VRM.is_dir():
        os.symlink(THREE_VRM, tmp_path / "three-vrm")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _chromium(args: list[str], tmp: Path) -> str:
    base = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=10000",
    ]  # fmt: skip
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120).stdout


def test_threejs_loads_and_shows_the_rigged_avatar(server):
    folder, url = server
    write_glb(folder / "avatar.glb", _stick_figure())
    page = f"{url}/viewer.html?glb=avatar.glb&w=256&h=256"
    assert "loaded skinned=1" in _chromium(["--dump-dom", page], folder)
    _chromium(["--window-size=256,256", f"--screenshot={folder / 'shot.png'}", page], folder)
    img = np.asarray(Image.open(folder / "shot.png").convert("RGB")).astype(int)
    red = (img[..., 0] > 120) & (img[..., 1] < 110) & (img[..., 2] < 110)
    assert red.sum() > 500, "the avatar is not visible"
    ys, xs = np.nonzero(red)
    # standing figure in the middle: taller than wide, centred horizontally
    assert np.ptp(ys) > np.ptp(xs) * 0.9 and abs(xs.mean() - 128) < 25


def test_threejs_plays_the_arkit_morph_targets(server, anny_body):
    """anny's own mesh exported with its 52 ARKit targets and a jawOpen 0 -> 1 weight animation: three.js finds the
    targets by name, and a close-up at the frame where jawOpen is 1 shows the lower lip and chin (painted green)
    dropped, the mouth open."""
    from dreamavatar.body.face import ARKIT_NAMES, CURVE_INDEX
    from dreamavatar.export.morph import face_morph_targets
    from tests.test_face_body import lip_vertices

    folder, url = server
    canonical = anny_body.canonical()
    v = canonical.vertices[0].double().numpy()
    weights = np.zeros((3, len(ARKIT_NAMES)))
    weights[1:, CURVE_INDEX["jawOpen"]] = 1.0  # t = 0 s closed, t = 1 s open (and held: a looping clip wraps at its end)
    morph = face_morph_targets(anny_body, v, weights, fps=1.0)
    jaw = np.linalg.norm(morph.offsets[CURVE_INDEX["jawOpen"]], axis=1) > 0.025  # lower lip and chin
    colors = np.tile([[0.85, 0.15, 0.15]], (len(v), 1))
    colors[jaw] = [0.1, 0.8, 0.1]
    mesh = RiggedMesh(v, canonical.faces.numpy(), colors, canonical.joints[0].double().numpy(),
                      canonical.weights.double().numpy())  # fmt: skip
    write_glb(folder / "face.glb", mesh, rigged=True, morph=morph)
    _, lower = lip_vertices(anny_body)
    x, y, z = v[lower]
    shots = {}
    for t in (0, 1):
        page = f"{url}/viewer.html?glb=face.glb&w=256&h=256&t={t}&target={x},{y},{z}&dist=0.35&az=0"
        title = _chromium(["--dump-dom", page], folder)
        assert f"morphs=52 jawOpen={t}.00" in title, title
        _chromium(["--window-size=256,256", f"--screenshot={folder / f'face{t}.png'}", page], folder)
        img = np.asarray(Image.open(folder / f"face{t}.png").convert("RGB")).astype(int)
        shots[t] = (img[..., 1] > 120) & (img[..., 0] < 110) & (img[..., 2] < 110)  # green: lower lip and chin
    cols = slice(108, 148)  # the middle of the face
    top = {t: np.nonzero(s[:, cols].any(1))[0].min() for t, s in shots.items()}
    assert shots[0].sum() > 200 and shots[1].sum() > 200, {t: s.sum() for t, s in shots.items()}
    # the lower lip drops about 3.4 cm: about 34 px at this distance (fov 40 degrees, 256 px)
    assert top[1] - top[0] > 15, top


# A fixed camera 3.6 m in front of the origin at chest height, so the floor's place in the picture is known.
EYE, TARGET, FOV, SIZE = np.array([0.0, 0.9, 3.6]), np.array([0.0, 0.85, 0.0]), 40.0, 256


def _pixel_row(p: np.ndarray) -> float:
    """The image row of world point p through the viewer's fixed camera (three.js lookAt, vertical fov FOV)."""
    fwd = (TARGET - EYE) / np.linalg.norm(TARGET - EYE)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    d = p - EYE
    f = (SIZE / 2) / np.tan(np.deg2rad(FOV / 2))
    return SIZE / 2 - f * float(d @ up) / float(d @ fwd)


def _figure_on_the_floor(folder: Path, url: str, query: str) -> str:
    fixed = f"eye={','.join(map(str, EYE))}&target={','.join(map(str, TARGET))}&w={SIZE}&h={SIZE}"
    page = f"{url}/viewer.html?{query}&{fixed}"
    title = _chromium(["--dump-dom", page], folder)
    _chromium([f"--window-size={SIZE},{SIZE}", f"--screenshot={folder / 'shot.png'}", page], folder)
    img = np.asarray(Image.open(folder / "shot.png").convert("RGB")).astype(int)
    white = (img > 235).all(-1)
    greenish = img[..., 1] - np.maximum(img[..., 0], img[..., 2]) > 25  # the green floor lines, anti-aliased on white
    figure = ~white & ~greenish
    assert ((img[..., 1] > 150) & (img[..., 0] < 80)).sum() > 200, "the floor grid is not drawn"
    assert figure.sum() > 800, "the avatar is not visible"
    ys, xs = np.nonzero(figure)
    assert np.ptp(ys) > 0.8 * np.ptp(xs) and abs(xs.mean() - SIZE / 2) < 25  # a standing figure (T-pose: as wide), centred
    floor = _pixel_row(np.zeros(3))
    toes = _pixel_row(np.array([0.0, 0.0, 0.15]))  # feet reach a little in front of the origin: a few rows lower
    assert floor - 4 <= ys.max() <= toes + 4, (ys.max(), floor, toes)  # the feet stand on the grid, not in it
    return title


@pytest.mark.slow
def test_threejs_shows_the_exported_avatar_smooth_and_standing_on_the_floor(server, exports):
    folder, url = server
    shutil.copy(exports["glb"], folder / "avatar.glb")
    title = _figure_on_the_floor(folder, url, "glb=avatar.glb&t=0")
    assert "loaded skinned=1 animations=1 normals=1 flat=0" in title, title


@pytest.mark.slow
@needs(THREE_VRM.is_dir(), "needs @pixiv/three-vrm (npm install --prefix .cache/three @pixiv/three-vrm)")
def test_three_vrm_loads_the_vrm_humanoid_standing_on_the_floor(server, exports):
    folder, url = server
    shutil.copy(exports["vrm"], folder / "avatar.vrm")
    title = _figure_on_the_floor(folder, url, "vrm=avatar.vrm")
    assert "vrm=1 humanoid=24 meta=1:Test Author" in title, title


@needs(THREE_VRM.is_dir(), "needs @pixiv/three-vrm (npm install --prefix .cache/three @pixiv/three-vrm)")
def test_three_vrm_reads_expressions_bound_to_arkit_morph_targets(server):
    """The expressions hook: a mesh carrying ARKit-named morph targets gets VRM preset expressions three-vrm loads."""
    from dreamavatar.export.vrm import PRESET_TARGETS, parse_meta, write_vrm

    folder, url = server
    fig = _stick_figure()
    names = sorted({t for ts in PRESET_TARGETS.values() for t in ts})
    deltas = np.random.default_rng(0).normal(scale=0.005, size=(len(names), len(fig.vertices), 3))
    write_vrm(folder / "face.vrm", fig, parse_meta([], {"name": "stick", "authors": ["me"]}), (names, deltas))
    title = _chromium(["--dump-dom", f"{url}/viewer.html?vrm=face.vrm&w=64&h=64"], folder)
    assert f"vrm=1 humanoid=24 meta=1:me expressions={len(PRESET_TARGETS)}" in title, title
