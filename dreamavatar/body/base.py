"""The body-model contract: SMPL poses in, posed mesh + joints + OpenPose keypoints + skinning out.

World frame (the one every module uses): metres, y up, the body faces +z, its left is +x, the pelvis near y = 0.
"Canonical" is the A-pose of `skeleton.a_pose()` with zero translation: the space the avatar's NeRF lives in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dreamavatar.body.face import FacePose


@dataclass
class BodyOutput:
    """One forward pass of a body model for a batch of B poses (V vertices, F faces).

    vertices:          B x V x 3   posed vertices (world)
    faces:             F x 3       long, shared by the batch
    joints:            B x 24 x 3  SMPL joints (world)
    keypoints:         B x 18 x 3  OpenPose COCO-18 keypoints (world), order of `renderers.openpose.KEYPOINT_NAMES`
    weights:           V x 24      skinning weights over the SMPL joints, rows sum to 1
    joint_transforms:  B x 24 x 4 x 4  canonical -> posed, per SMPL joint
    vertex_transforms: B x V x 4 x 4   canonical -> posed, per vertex (blend of the bones that skin it, after the
                       vertex's face offset when the pose carries a `face.FacePose`: the canonical body is neutral-faced)
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor
    weights: torch.Tensor
    joint_transforms: torch.Tensor
    vertex_transforms: torch.Tensor

    def to(self, device: torch.device | str) -> "BodyOutput":
        """The same output with every tensor on `device` (a no-op where they already are)."""
        from dataclasses import fields

        return BodyOutput(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class BodyModel(nn.Module):
    """Base class of body models. Implementations: `anny_body.AnnyBody` (default, free), `smpl_body.SMPLBody`."""

    name: str = "base"

    def forward(
        self,
        pose: torch.Tensor,
        transl: torch.Tensor | None = None,
        shape: torch.Tensor | None = None,
        face: FacePose | None = None,
    ) -> BodyOutput:
        """pose: B x 24 x 3 axis-angle (SMPL order, joint 0 = global orientation); transl: B x 3; shape: model's own;
        face: ARKit curves, head and eye rotations (`face.py`), each body applying what its rig can."""
        raise NotImplementedError

    def face_basis(self) -> torch.Tensor:
        """Canonical-frame offsets 52 x V x 3 of each ARKit curve at 1 on the canonical body (order of
        `face.ARKIT_NAMES`; zero rows for curves the body does not move): what exports turn into morph targets."""
        from dreamavatar.body.face import NUM_CURVES
        from dreamavatar.body.skeleton import a_pose

        with torch.no_grad():
            base = self.canonical().vertices[0]
            curves = torch.eye(NUM_CURVES, dtype=base.dtype, device=base.device)
            rows = [self.forward(a_pose(len(c)).to(base), face=FacePose(curves=c)).vertices - base for c in curves.split(13)]
        return torch.cat(rows)

    def canonical(self) -> BodyOutput:
        """The body in the canonical A-pose, zero translation (B = 1)."""
        from dreamavatar.body.skeleton import a_pose

        return self.forward(a_pose(1))

    @property
    def faces(self) -> torch.Tensor:  # F x 3
        raise NotImplementedError
