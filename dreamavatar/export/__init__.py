"""Export: marching-cubes meshes of the avatar, rigged glTF with the SMPL skeleton, per-frame mesh sequences."""
