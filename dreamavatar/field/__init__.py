"""The avatar field: a canonical hash-grid NeRF tied to the body skeleton by nearest-vertex inverse skinning.

hashgrid.HashGrid -> nerf.CanonicalField (density, albedo); deformation.Deformation (posed -> canonical, density
weight, delta MLP); avatar.AvatarField / PosedAvatar (the renderer's field for one posed body);
background.Background; init.initialize (stage 0, cached); bake.BakedField (dense grid for animation).
"""

from dreamavatar.field.avatar import AvatarConfig, AvatarField, PosedAvatar
from dreamavatar.field.background import Background, BackgroundConfig
from dreamavatar.field.deformation import Deformation, DeformationConfig, PosedBody, density_weight
from dreamavatar.field.hashgrid import HashGrid, HashGridConfig
from dreamavatar.field.nerf import CanonicalField, NeRFConfig

__all__ = [
    "AvatarConfig", "AvatarField", "PosedAvatar", "Background", "BackgroundConfig", "Deformation",
    "DeformationConfig", "PosedBody", "density_weight", "HashGrid", "HashGridConfig", "CanonicalField", "NeRFConfig",
]  # fmt: skip
