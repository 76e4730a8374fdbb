"""A finished (or checkpointed) avatar loaded from its run directory, ready to pose and render."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from dreamavatar.body.base import BodyModel, BodyOutput
from dreamavatar.body.face import FacePose
from dreamavatar.field.avatar import AvatarField
from dreamavatar.field.bake import BakedField
from dreamavatar.render import PosedRender, posed_render, render_avatar
from dreamavatar.run_config import GenerateConfig
from renderers.cameras import Cameras


@dataclass
class LoadedAvatar:
    cfg: GenerateConfig
    avatar: AvatarField
    body: BodyModel
    background: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor
    height: float  # canonical body height, metres
    center_y: float  # canonical body's vertical centre
    baked: Optional[BakedField] = None  # the canonical field baked to a grid (animation speed)
    early_stop: float = 0.0  # > 0: rays stop below this transmittance (renderers.volume.evaluate_early_stop); off:
    # at inference the rounds cost more than the samples they skip (measured, benchmarks/bench_speed.py)

    @torch.no_grad()
    def pose(self, poses: torch.Tensor, transl: torch.Tensor | None = None, face: FacePose | None = None) -> BodyOutput:
        """poses B x 24 x 3, transl B x 3, face: the face inputs of those frames (or None) -> the posed body."""
        return self.body(poses.float(), None if transl is None else transl.float(), face=face)

    @torch.no_grad()
    def render(self, out: BodyOutput, cams: Cameras, background=None) -> dict[str, torch.Tensor]:
        """Render the avatar posed as `out` (batch 1 or B) from B cameras."""
        bg = self.background if background is None else background
        return render_avatar(self.avatar, out, cams, bg, self.cfg.train.ray_step, baked=self.baked,
                             early_stop=self.early_stop)  # fmt: skip

    @torch.no_grad()
    def posed(self, out: BodyOutput) -> PosedRender:
        """The avatar posed as `out` (batch 1), ready for `dreamavatar.render` (e.g. in a scene)."""
        return posed_render(self.avatar, out, 0, self.cfg.train.ray_step, self.baked)

    def bake(self, cell: float = 0.01) -> None:
        """Sample the canonical field to a dense grid (`cell` metres) once: animation then reads it by trilinear
        lookups instead of the hash grid and MLPs."""
        from dreamavatar.field.bake import bake_avatar

        self.baked = bake_avatar(self.avatar, self.body.canonical(), cell)

    def measure_extent(self) -> None:
        """Occupancy from the density (`dreamavatar.field.extent`): samples only where the avatar has density, plus
        a margin, instead of everywhere within the density weight's reach of the body. `load_avatar` does it after a
        bake: on a 1,200-step avatar 4 % fewer samples, the same frames (max difference 0), 0.14 s once."""
        from dreamavatar.field.extent import density_extent

        self.avatar.set_extent(density_extent(self.avatar, self.body.canonical(), self.baked))


def load_weights(module: torch.nn.Module, weights: object, path: Path) -> None:
    """`module.load_state_dict(weights)`, or one message when the checkpoint does not fit the run's config.yaml."""
    from dreamavatar.errors import UserError

    try:
        module.load_state_dict(weights)  # type: ignore[arg-type]
    except Exception as e:  # missing/unexpected keys, wrong shapes, not a mapping
        reason = " ".join(str(e).split())[:200]
        raise UserError(
            f"checkpoint {path} does not match the run's config.yaml ({reason}): restore the config.yaml it was "
            "trained with, or generate the avatar again"
        ) from None


def load_avatar(run_path: str | Path, bake: float = 0.0) -> LoadedAvatar:
    """Load the avatar of a `generate` run directory (its last checkpoint). `bake`: grid cell in metres, 0 = none
    (with a bake, the occupancy follows the baked density: `LoadedAvatar.measure_extent`)."""
    from dreamavatar.body import body_for
    from dreamavatar.condition import body_extent
    from dreamavatar.errors import UserError
    from dreamavatar.field.background import Background
    from dreamavatar.run_dir import AVATAR_KEYS, open_run

    run = open_run(run_path)
    cfg = run.load_config()
    state = run.load_checkpoint(AVATAR_KEYS)
    avatar = AvatarField(cfg.avatar)
    load_weights(avatar, state["avatar"], run.checkpoint)
    avatar.eval().requires_grad_(False)
    if cfg.train.background == "mlp" and state.get("background") is not None:
        bg_net = Background(cfg.background)
        load_weights(bg_net, state["background"], run.checkpoint)
        background = bg_net.eval().requires_grad_(False)
    elif state.get("background_color") is not None:  # the prior's plain colour, saved by the trainer
        background = torch.tensor(state["background_color"])
    else:
        raise UserError(f"{run.checkpoint} holds no background (neither a network nor a colour): generate it again")
    body = body_for(cfg)
    with torch.no_grad():
        avatar.set_spec(cfg.spec, body.canonical())  # the room its loose garments were trained with
    height, center_y = body_extent(body)
    loaded = LoadedAvatar(cfg, avatar, body, background, height, center_y)
    if bake:  # animation: the baked grid, and occupancy from the density it holds
        loaded.bake(bake)
        loaded.measure_extent()
    return loaded
