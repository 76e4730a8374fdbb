"""Convert a dreamavatar GLB (rigged, optionally animated) to FBX with Blender, for tools that want FBX (Unity's and
Unreal's importers, Mixamo's uploader, Maya). No free FBX writer exists in Python; Blender's is the reference one.

    blender -b --python scripts/glb_to_fbx.py -- avatar.glb avatar.fbx
    python scripts/glb_to_fbx.py avatar.glb avatar.fbx        # the same with PyPI's `bpy` module (Blender 4.2+)

The FBX keeps the mesh, vertex colours, the skeleton (bones named as exported: --skeleton-names mixamo suits
Mixamo and Unity's Humanoid) and the animation (baked at the scene's frame rate, set from the GLB's keyframe times).
Blender's FBX exporter writes centimetre-scaled, y-up files by default (`apply_unit_scale`, axis_up="Y"), which Unity
and Unreal read the right way up and the right size.
"""

import json
import struct
import sys


def glb_fps(path: str) -> float:
    """The frame rate of a GLB's first animation from its keyframe times ((count - 1) / last time); 30 if none."""
    with open(path, "rb") as f:
        magic, _, _ = struct.unpack("<4sII", f.read(12))
        length, kind = struct.unpack("<I4s", f.read(8))
        if magic != b"glTF" or kind != b"JSON":
            return 30.0
        doc = json.loads(f.read(length))
    for anim in doc.get("animations", []):
        acc = doc["accessors"][anim["samplers"][0]["input"]]
        if acc["count"] > 1 and acc["max"][0] > 0:
            return (acc["count"] - 1) / acc["max"][0]
    return 30.0


def main(argv: list[str]) -> int:
    import bpy

    args = argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]
    if len(args) != 2 or not args[0].lower().endswith((".glb", ".gltf")) or not args[1].lower().endswith(".fbx"):
        print("usage: blender -b --python scripts/glb_to_fbx.py -- IN.glb OUT.fbx", file=sys.stderr)
        return 2
    src, dst = args
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    fps = glb_fps(src)  # the importer turns glTF seconds into frames at the scene's rate: one frame a keyframe
    scene.render.fps = max(1, round(fps))
    scene.render.fps_base = scene.render.fps / fps
    bpy.ops.import_scene.gltf(filepath=src)
    actions = list(bpy.data.actions)
    if actions:
        start, end = actions[0].frame_range
        scene.frame_start, scene.frame_end = round(start), round(end)  # the keys sit at (almost) whole frames
    bpy.ops.export_scene.fbx(filepath=dst, use_selection=False, object_types={"ARMATURE", "MESH"},
                             add_leaf_bones=False, bake_anim=bool(actions), bake_anim_use_all_actions=False,
                             bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0, axis_forward="Z",
                             axis_up="Y")  # fmt: skip
    print(dst)
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    if code:
        sys.exit(code)
