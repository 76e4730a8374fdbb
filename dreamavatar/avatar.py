"""A finished (or checkpointed) avatar loaded from its run directory, ready to pose and render."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from dreamavatar.body.base import BodyModel, BodyOutput
from dreamavatar.field.avatar import AvatarField, CanonicalQuery
from dreamavatar.train.config import GenerateConfig
from dreamavatar.train.render import render_avatar
from renderers.cameras import Cameras


@dataclass
class LoadedAvatar:
    cfg: GenerateConfig
    avatar: AvatarField
    body: BodyModel
    background: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor
    height: float  # canonical body height, metres
    center_y: float  # canonical body's vertical centre
    query: Optional[CanonicalQuery] = None  # a baked canonical field, when baked

    @torch.no_grad()
    def pose(self, poses: torch.Tensor, transl: torch.Tensor | None = None) -> BodyOutput:
        """poses B x 24 x 3, transl B x 3 -> the posed body."""
        return self.body(poses.float(), None if transl is None else transl.float())

    @torch.no_grad()
    def render(self, out: BodyOutput, cams: Cameras, background=None) -> dict[str, torch.Tensor]:
        """Render the avatar posed as `out` (batch 1 or B) from B cameras."""
        bg = self.background if background is None else background
        return render_avatar(self.avatar, out, cams, bg, self.cfg.train.ray_step, query=self.query)

    def bake(self, resolution: int = 128) -> None:
        """Sample the canonical field to a dense grid once, so animation queries it by trilinear lookups."""
        from dreamavatar.bake import bake_canonical

        self.query = bake_canonical(self.avatar, self.body.canonical(), resolution)


def load_avatar(run_path: str | Path, bake: int = 0) -> LoadedAvatar:
    """Load the avatar of a `generate` run directory (its last checkpoint). `bake`: grid resolution, 0 = no baking."""
    from dreamavatar.condition import body_extent
    from dreamavatar.config import load_config
    from dreamavatar.field.background import Background
    from dreamavatar.train.run_dir import open_run
    from dreamavatar.train.trainer import body_for

    run = open_run(run_path)
    cfg = load_config(GenerateConfig, [run.config])
    state = run.load_checkpoint()
    avatar = AvatarField(cfg.avatar)
    avatar.load_state_dict(state["avatar"])
    avatar.eval().requires_grad_(False)
    if cfg.train.background == "mlp" and state.get("background") is not None:
        bg_net = Background(cfg.background)
        bg_net.load_state_dict(state["background"])
        background = bg_net.eval().requires_grad_(False)
    else:
        background = torch.tensor(state.get("background_color") or [0.78, 0.84, 0.92])
    body = body_for(cfg)
    height, center_y = body_extent(body)
    loaded = LoadedAvatar(cfg, avatar, body, background, height, center_y)
    if bake:
        loaded.bake(bake)
    return loaded
