"""Run inside Blender (PyPI's `bpy` module or `blender -b --python`): import a file with Blender's own importer, with
default settings, and write what a user would look at to an npz: bones, actions, and the evaluated (skinned) mesh
vertices in world space at the rest pose and at given frames. Used by tests/test_export_tools.py.

    python tests/blender_probe.py IN.(glb|vrm|ply|fbx) OUT.npz [FPS] [FRAME ...]
"""

import sys

import bpy
import numpy as np


def evaluated_vertices(obj) -> np.ndarray:
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    co = np.empty(len(me.vertices) * 3)
    me.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    M = np.array(ev.matrix_world)
    ev.to_mesh_clear()
    return co @ M[:3, :3].T + M[:3, 3]


def main(argv: list[str]) -> None:
    args = argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]
    src, dst, fps, frames = args[0], args[1], float(args[2]) if len(args) > 2 else 30.0, [int(a) for a in args[3:]]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = max(1, round(fps))
    scene.render.fps_base = scene.render.fps / fps
    ext = src.lower().rsplit(".", 1)[-1]
    if ext in ("glb", "vrm"):
        bpy.ops.import_scene.gltf(filepath=src)
    elif ext == "ply":
        bpy.ops.wm.ply_import(filepath=src)
    elif ext == "fbx":
        bpy.ops.import_scene.fbx(filepath=src)
    else:
        raise SystemExit(f"unknown file type {src}")
    meshes = sorted((o for o in bpy.data.objects if o.type == "MESH"), key=lambda o: -len(o.data.vertices))
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    out = {"num_vertices": np.array([len(m.data.vertices) for m in meshes])}
    if arms:
        arm = arms[0]
        out["bones"] = np.array([b.name for b in arm.data.bones])
        out["actions"] = np.array([a.name for a in bpy.data.actions])
        out["action_ranges"] = np.array([tuple(a.frame_range) for a in bpy.data.actions]).reshape(-1, 2)
        arm.data.pose_position = "REST"
        scene.frame_set(0)
        out["rest"] = evaluated_vertices(meshes[0])
        arm.data.pose_position = "POSE"
    else:
        out["rest"] = evaluated_vertices(meshes[0])
    for f in frames:
        scene.frame_set(f)
        out[f"frame_{f}"] = evaluated_vertices(meshes[0])
    np.savez(dst, **out)


main(sys.argv)
