"""VRM 1.0: the rigged GLB in the VRM T-pose plus the `VRMC_vrm` extension (humanoid bone map, meta with the
licence fields, expressions), saved as `.vrm` for VTuber apps, VRChat pipelines and three-vrm.

Expressions hook: VRM presets are bound to the mesh's morph targets by their ARKit names (`PRESET_TARGETS`): a mesh
that carries ARKit face targets (`GlbBuilder.add_morph_targets`) gets `blink`, `aa`, `happy`, ... with no more code;
a mesh without them gets no expressions. VRM 1.0 ignores glTF animations, so a VRM carries none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from dreamavatar.body.skeleton import JOINT_NAMES
from dreamavatar.export.gltf import RiggedMesh, build_glb
from dreamavatar.export.rig import VRM_BONES

LICENSE_URL = "https://vrm.dev/licenses/1.0/"  # the one licence document VRM 1.0 accepts

# meta fields a user may set (`--meta KEY=VALUE`), their allowed values (None: any text; bool: true/false), and the
# defaults written: VRM's own defaults, spelled out so a reader sees every permission.
META_FIELDS: dict[str, tuple | type | None] = {
    "name": None, "version": None, "authors": None, "copyrightInformation": None, "contactInformation": None,
    "references": None, "thirdPartyLicenses": None, "otherLicenseUrl": None,
    "avatarPermission": ("onlyAuthor", "onlySeparatelyLicensedPerson", "everyone"),
    "commercialUsage": ("personalNonProfit", "personalProfit", "corporation"),
    "creditNotation": ("required", "unnecessary"),
    "modification": ("prohibited", "allowModification", "allowModificationRedistribution"),
    "allowExcessivelyViolentUsage": bool, "allowExcessivelySexualUsage": bool, "allowPoliticalOrReligiousUsage": bool,
    "allowAntisocialOrHateUsage": bool, "allowRedistribution": bool,
}  # fmt: skip
META_DEFAULTS = {
    "avatarPermission": "onlyAuthor", "commercialUsage": "personalNonProfit", "creditNotation": "required",
    "modification": "prohibited", "allowExcessivelyViolentUsage": False, "allowExcessivelySexualUsage": False,
    "allowPoliticalOrReligiousUsage": False, "allowAntisocialOrHateUsage": False, "allowRedistribution": False,
}  # fmt: skip

# VRM preset expression -> ARKit morph targets (weight 1 each) that make it.
PRESET_TARGETS: dict[str, tuple[str, ...]] = {
    "happy": ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight"),
    "angry": ("browDownLeft", "browDownRight", "noseSneerLeft", "noseSneerRight"),
    "sad": ("browInnerUp", "mouthFrownLeft", "mouthFrownRight"),
    "relaxed": ("mouthSmileLeft", "mouthSmileRight", "eyeSquintLeft", "eyeSquintRight"),
    "surprised": ("browInnerUp", "eyeWideLeft", "eyeWideRight", "jawOpen"),
    "aa": ("jawOpen",),
    "ih": ("mouthStretchLeft", "mouthStretchRight"),
    "ou": ("mouthPucker",),
    "ee": ("mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight"),
    "oh": ("mouthFunnel", "jawOpen"),
    "blink": ("eyeBlinkLeft", "eyeBlinkRight"),
    "blinkLeft": ("eyeBlinkLeft",),
    "blinkRight": ("eyeBlinkRight",),
    "lookUp": ("eyeLookUpLeft", "eyeLookUpRight"),
    "lookDown": ("eyeLookDownLeft", "eyeLookDownRight"),
    "lookLeft": ("eyeLookOutLeft", "eyeLookInRight"),
    "lookRight": ("eyeLookInLeft", "eyeLookOutRight"),
}  # fmt: skip


def parse_meta(items: list[str], defaults: Mapping[str, object]) -> dict[str, object]:
    """`KEY=VALUE` strings -> the VRM meta dict (defaults, then META_DEFAULTS, then the items). Raises UserError on an
    unknown key or value."""
    from dreamavatar.errors import UserError

    meta: dict[str, object] = {**META_DEFAULTS, **defaults}
    for item in items:
        key, sep, value = item.partition("=")
        kind = META_FIELDS.get(key, "unknown")
        if not sep or kind == "unknown":
            raise UserError(f"--meta {item!r}: write KEY=VALUE with KEY one of {', '.join(META_FIELDS)}")
        if kind is bool:
            if value.lower() not in ("true", "false"):
                raise UserError(f"--meta {item!r}: {key} is true or false")
            meta[key] = value.lower() == "true"
        elif isinstance(kind, tuple):
            if value not in kind:
                raise UserError(f"--meta {item!r}: {key} is one of {', '.join(kind)}")
            meta[key] = value
        elif key in ("authors", "references"):
            meta[key] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            meta[key] = value
    if not meta.get("name") or not meta.get("authors"):
        raise UserError("VRM needs a model name and at least one author: give --meta name=... --meta authors=...")
    meta["licenseUrl"] = LICENSE_URL
    return meta


def expressions(target_names: list[str], mesh_node: int) -> dict:
    """VRM preset expressions bound to the morph targets named in `target_names` (ARKit names); a preset is written
    only when all its targets exist."""
    index = {n: i for i, n in enumerate(target_names)}
    preset = {}
    for name, targets in PRESET_TARGETS.items():
        if all(t in index for t in targets):
            preset[name] = {
                "morphTargetBinds": [{"node": mesh_node, "index": index[t], "weight": 1.0} for t in targets],
                "isBinary": False, "overrideBlink": "none", "overrideLookAt": "none", "overrideMouth": "none",
            }  # fmt: skip
    return {"preset": preset} if preset else {}


def vrm_extension(first_joint: int, meta: dict, expr: dict) -> dict:
    """The `VRMC_vrm` object: every SMPL joint as its VRM humanoid bone (joint j is node first_joint + j)."""
    bones = {VRM_BONES[n]: {"node": first_joint + j} for j, n in enumerate(JOINT_NAMES)}
    ext = {"specVersion": "1.0", "humanoid": {"humanBones": bones}, "meta": meta}
    if expr:
        ext["expressions"] = expr
    return ext


def write_vrm(path: str | Path, mesh: RiggedMesh, meta: dict, morph_targets: tuple | None = None) -> Path:
    """Write a VRM 1.0 file. `mesh` must be in the VRM T-pose (arms along x, the feet on y = 0, facing +z);
    `morph_targets`: optional (names, position deltas N x V x 3) with ARKit names for the expressions."""
    builder, mesh_node = build_glb(mesh, None, rigged=True)
    names: list[str] = []
    if morph_targets is not None:
        names, deltas = list(morph_targets[0]), morph_targets[1]
        mesh_index = builder.doc.nodes[mesh_node].mesh
        builder.add_morph_targets(mesh_index, builder.doc.meshes[mesh_index].primitives[0], names, deltas)
    builder.add_extension("VRMC_vrm", vrm_extension(mesh_node + 1, meta, expressions(names, mesh_node)))
    return builder.save(path)
