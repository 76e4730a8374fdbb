"""Exports of a real avatar checked by the programs users take them to, and by the conventions those programs assume:
the Khronos glTF validator (GLB, textured GLB, VRM: no error, no warning), Blender (PyPI's `bpy`: bones, the action,
skinned vertices equal to ours, feet on the floor, the PLY standing up, the FBX script's round trip), and the files'
own numbers (floor origin, linear colours, unit outward normals, T-pose VRM, permissions, skin stretch).

CI installs the programs (`.ci/run`); elsewhere the tests that need one skip, naming what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pygltflib
import pytest

from dreamavatar.export.gltf import load_glb, read_skin, skin_vertices, srgb_to_linear
from runs import RAISED_ARM_FRAME
from tools import needs

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = Path(os.environ.get("DREAMAVATAR_NODE_MODULES", REPO / ".cache/three/node_modules"))
BPY_PYTHON = Path(os.environ.get("DREAMAVATAR_BPY_PYTHON", REPO / ".cache/bpy/bin/python"))
GLTF_TO_BLENDER = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # glTF's y-up -> Blender's z-up, as its importer does

needs_validator = needs(
    shutil.which("node") is not None and (NODE_MODULES / "gltf-validator").is_dir(),
    "needs node and the Khronos validator (npm install --prefix .cache/three gltf-validator)",
)
needs_blender = needs(
    BPY_PYTHON.is_file(), "needs Blender's bpy in .cache/bpy (python3 -m venv .cache/bpy && .cache/bpy/bin/pip install bpy)"
)

_VALIDATE_JS = """
const fs = require('fs');
const validator = require(process.argv[1] + '/gltf-validator');
(async () => {
  const out = {};
  for (const f of process.argv.slice(2)) {
    const r = await validator.validateBytes(new Uint8Array(fs.readFileSync(f)), {maxIssues: 0});
    out[f] = {errors: r.issues.numErrors, warnings: r.issues.numWarnings,
              messages: r.issues.messages.filter((m) => m.severity <= 1).slice(0, 10).map((m) => m.code + ' ' + m.message)};
  }
  console.log(JSON.stringify(out));
})();
"""


def validate(*paths: Path) -> dict[str, dict]:
    res = subprocess.run(["node", "-e", _VALIDATE_JS, str(NODE_MODULES), *map(str, paths)], capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def blender_probe(path: Path, out: Path, fps: float = 30.0, frames: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    res = subprocess.run([str(BPY_PYTHON), str(REPO / "tests/blender_probe.py"), str(path), str(out), str(fps),
                          *map(str, frames)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return dict(np.load(out))


@needs_validator
def test_khronos_validator_finds_no_error_and_no_warning(exports):
    report = validate(exports["glb"], exports["textured"], exports["vrm"])
    for path, r in report.items():
        assert (r["errors"], r["warnings"]) == (0, 0), (path, r["messages"])


@needs_validator
def test_validator_accepts_morph_targets(tmp_path):
    """The morph-target hook (for face curves) writes targets the validator accepts, named in extras.targetNames."""
    from dreamavatar.export.gltf import RiggedMesh, build_glb
    from dreamavatar.export.mesh import vertex_normals

    import trimesh

    m = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    v, f = np.asarray(m.vertices), np.asarray(m.faces)
    w = np.zeros((len(v), 24))
    w[:, 15] = 1.0
    joints = np.zeros((24, 3))
    mesh = RiggedMesh(v, f, np.full((len(v), 3), 0.5), joints, w, vertex_normals(v, f))
    b, node = build_glb(mesh)
    mi = b.doc.nodes[node].mesh
    deltas = np.stack([v * 0.1, np.where(v[:, 1:2] > 0, [[0.0, 0.02, 0.0]], 0.0)])
    b.add_morph_targets(mi, b.doc.meshes[mi].primitives[0], ["jawOpen", "eyeBlinkLeft"], deltas)
    path = b.save(tmp_path / "morph.glb")
    r = validate(path)[str(path)]
    assert (r["errors"], r["warnings"]) == (0, 0), r["messages"]
    doc = pygltflib.GLTF2().load(str(path))
    assert doc.meshes[0].extras["targetNames"] == ["jawOpen", "eyeBlinkLeft"] and doc.meshes[0].weights == [0, 0]


def test_glb_stands_on_the_floor_with_linear_colours_and_normals(exports):
    data = read_skin(exports["glb"])
    v = data["positions"]
    assert abs(v[:, 1].min()) < 1e-6 and 1.4 < v[:, 1].max() < 2.0  # feet at y = 0, head up
    names = list(data["joint_names"])
    ankles = data["rest_world"][[names.index("mixamorig:LeftFoot"), names.index("mixamorig:RightFoot")], :3, 3]
    np.testing.assert_allclose(ankles.mean(0)[[0, 2]], 0.0, atol=1e-6)  # origin between the ankles
    assert data["rest_world"][0, 1, 3] > 0.7  # the hips above the floor, moved with the mesh
    assert names[:3] == ["mixamorig:Hips", "mixamorig:LeftUpLeg", "mixamorig:RightUpLeg"]
    # normals: unit, smooth (the mean of the faces around a vertex, not one per face) and outward: they agree with
    # the winding, and the winding encloses a positive volume
    n = data["normals"]
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
    import trimesh

    mesh = trimesh.Trimesh(v.astype(np.float64), data["faces"], process=False)
    assert np.einsum("ij,ij->i", n, mesh.vertex_normals).min() > 0.999 and mesh.volume > 0.03
    # no joint index used with zero weight; weights sum to 1
    assert np.all(data["joints"][data["weights"] == 0] == 0)
    np.testing.assert_allclose(data["weights"].sum(1), 1.0, atol=1e-6)
    # COLOR_0 is linear: the PLY of the same avatar holds sRGB bytes, and the two agree through the sRGB curve
    assert "colors" in data and data["colors"].max() <= 1.0
    assert (os.stat(exports["glb"]).st_mode & 0o777) == 0o644 and (os.stat(exports["ply"]).st_mode & 0o777) == 0o644


def test_vertex_colours_are_linear_versions_of_the_srgb_field(run_dir, tmp_path):
    """A GLB and an OBJ of the same mesh: the GLB's COLOR_0 is the OBJ's sRGB colour through the sRGB -> linear curve
    (mean linear values are darker than the sRGB ones for mid tones, as glTF defines)."""
    import trimesh

    from dreamavatar.cli import main

    common = ["--resolution", "64", "--faces", "3000"]
    assert main(["export", str(run_dir), "--format", "glb", "--out", str(tmp_path / "c.glb"), *common]) == 0
    assert main(["export", str(run_dir), "--format", "obj", "--out", str(tmp_path / "c.obj"), *common]) == 0
    lin = read_skin(tmp_path / "c.glb")["colors"]
    obj = trimesh.load(tmp_path / "c.obj", process=False)
    srgb = np.asarray(obj.visual.vertex_colors)[:, :3] / 255.0
    assert len(srgb) == len(lin)
    np.testing.assert_allclose(lin, srgb_to_linear(srgb), atol=0.004)
    assert lin.mean() < srgb.mean() - 0.05
    np.testing.assert_allclose(srgb_to_linear(np.array([0.0, 0.5, 1.0])), [0.0, 0.21404, 1.0], atol=1e-5)


def test_raised_arm_frame_stretches_no_edge_over_3x(exports):
    from dreamavatar.export.skinning import edge_stretch, stretch_summary

    data = read_skin(exports["glb"])
    posed = skin_vertices(data, data["anim_world"][RAISED_ARM_FRAME])
    s = stretch_summary(edge_stretch(data["positions"].astype(np.float64), posed, data["faces"]))
    assert s["worst"] <= 3.0 and s["over3x"] == 0, s


def test_vrm_is_a_t_posed_humanoid_with_licence_meta(exports):
    from dreamavatar.export.rig import VRM_BONES
    from dreamavatar.export.vrm import LICENSE_URL

    doc = load_glb(exports["vrm"])
    assert "VRMC_vrm" in doc.extensionsUsed and not doc.animations
    vrm = doc.extensions["VRMC_vrm"]
    assert vrm["specVersion"] == "1.0"
    bones = vrm["humanoid"]["humanBones"]
    required = ("hips", "spine", "head", "leftUpperLeg", "leftLowerLeg", "leftFoot", "rightUpperLeg", "rightLowerLeg",
                "rightFoot", "leftUpperArm", "leftLowerArm", "leftHand", "rightUpperArm", "rightLowerArm", "rightHand")
    assert set(required) <= set(bones) and len(bones) == len(VRM_BONES)
    assert doc.nodes[bones["leftUpperArm"]["node"]].name == "mixamorig:LeftArm"
    meta = vrm["meta"]
    assert meta["licenseUrl"] == LICENSE_URL and meta["authors"] == ["Test Author"]
    assert meta["avatarPermission"] == "everyone" and meta["commercialUsage"] == "personalNonProfit"
    assert meta["name"].startswith("a man wearing") and "anny" in meta["thirdPartyLicenses"]
    data = read_skin(exports["vrm"])
    J = data["rest_world"][:, :3, 3]
    for side in ("left", "right"):  # T-pose: the arm runs along x, level with the shoulder
        s, w = (J[doc.skins[0].joints.index(bones[f"{side}{b}"]["node"])] for b in ("UpperArm", "Hand"))
        assert abs(w[1] - s[1]) < 0.02 and abs(w[0] - s[0]) > 0.4
    assert abs(data["positions"][:, 1].min()) < 1e-6  # VRM: grounded at y = 0


def test_export_refuses_bad_combinations_before_writing(run_dir, tmp_path, capsys):
    from dreamavatar.cli import main

    cases = [
        (["--format", "vrm", "--motion", "walk"], "VRM carries no animation"),
        (["--format", "glb", "--up", "z"], "always y-up"),
        (["--format", "obj", "--texture"], "--texture applies"),
        (["--format", "vrm", "--meta", "commercialUsage=maybe"], "commercialUsage is one of"),
        (["--format", "vrm", "--meta", "colour=red"], "KEY=VALUE"),
        (["--format", "glb", "--faces", "10"], "at least 100"),
    ]
    for args, words in cases:
        ext = args[1]
        assert main(["export", str(run_dir), *args, "--out", str(tmp_path / f"x.{ext}")]) == 2, args
        assert words in capsys.readouterr().err, args
    assert not list(tmp_path.iterdir())


@needs_blender
def test_blender_plays_the_rigged_animation_as_we_do(exports, tmp_path):
    data = read_skin(exports["glb"])
    frames = (0, RAISED_ARM_FRAME, len(data["anim_world"]) - 1)
    bl = blender_probe(exports["glb"], tmp_path / "glb.npz", 30.0, frames)
    assert len(bl["bones"]) == 24 and "mixamorig:LeftArm" in set(bl["bones"])
    np.testing.assert_allclose(bl["action_ranges"], [[0.0, len(data["anim_world"]) - 1.0]], atol=1e-3)  # from 0
    assert bl["num_vertices"].max() == len(data["positions"])
    np.testing.assert_allclose(bl["rest"], data["positions"] @ GLTF_TO_BLENDER.T, atol=1e-6)
    for f in frames:
        ours = skin_vertices(data, data["anim_world"][f]) @ GLTF_TO_BLENDER.T
        assert np.abs(bl[f"frame_{f}"] - ours).max() < 1e-3, f  # within 1 mm
    assert abs(bl["rest"][:, 2].min()) < 0.01  # feet within 1 cm of Blender's floor
    assert abs(bl[f"frame_{frames[0]}"][:, 2].min()) < 0.03  # and the motion's first frame stands on it too


@needs_blender
def test_blender_stands_the_ply_up_and_imports_the_vrm(exports, tmp_path):
    ply = blender_probe(exports["ply"], tmp_path / "ply.npz")["rest"]
    assert abs(ply[:, 2].min()) < 0.01 and 1.4 < ply[:, 2].max() < 2.0  # standing on Blender's floor, z up
    assert np.ptp(ply[:, 1]) < 0.6  # thin front to back (y), not lying on its back
    vrm = blender_probe(exports["vrm"], tmp_path / "vrm.npz")
    assert len(vrm["bones"]) == 24 and abs(vrm["rest"][:, 2].min()) < 0.01


@needs_blender
def test_fbx_script_round_trips_through_blender(exports, tmp_path):
    fbx = tmp_path / "avatar.fbx"
    res = subprocess.run([str(BPY_PYTHON), str(REPO / "scripts/glb_to_fbx.py"), str(exports["glb"]), str(fbx)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0 and fbx.is_file(), res.stderr[-2000:]
    data = read_skin(exports["glb"])
    n = len(data["anim_world"])
    bl = blender_probe(fbx, tmp_path / "fbx.npz", 30.0, (1, 1 + RAISED_ARM_FRAME, n))
    assert len(bl["bones"]) == 24
    np.testing.assert_allclose(bl["action_ranges"][0], [1.0, n], atol=1e-3)  # every frame, FBX keys from frame 1
    for f in (0, RAISED_ARM_FRAME, n - 1):
        ours = skin_vertices(data, data["anim_world"][f]) @ GLTF_TO_BLENDER.T
        assert np.abs(bl[f"frame_{f + 1}"] - ours).max() < 1e-3, f
    bad = subprocess.run([str(BPY_PYTHON), str(REPO / "scripts/glb_to_fbx.py"), "x.obj", "y.fbx"], capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 2 and "usage" in bad.stderr

