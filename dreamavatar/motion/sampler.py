"""Training poses for stage 2: frames of the built-in motions, mirrored at random, perturbed within joint limits.

The project's replacement for DreamWaltz's VPoser sampling (VPoser is licensed). Every pose it returns lies inside
`limits.LIMITS_DEG`; the body's heading is reset to face +z (the camera sampler supplies the azimuth) unless
`max_yaw_deg` allows some turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import torch

from dreamavatar.body.skeleton import a_pose, mirror_pose
from dreamavatar.errors import UserError
from dreamavatar.motion.limits import LIMITS_DEG, clamp_to_limits, euler_to_rotvec, rotvec_to_euler
from dreamavatar.motion.motion import single_thread


class PoseSampler:
    """Random body poses, n x 24 x 3 axis-angle, reproducible for a given torch.Generator."""

    @dataclass
    class Config:
        motions: list[str] = field(default_factory=list)  # built-in names or files; empty = every built-in
        p_canonical: float = 0.1  # probability of the canonical A-pose
        noise_deg: float = 8.0  # std of the per-axis perturbation (capped at a quarter of each joint's range)
        max_yaw_deg: float = 0.0  # heading turned uniformly within +-this
        mirror: bool = True  # also use the left-right mirror of every frame

    def __init__(self, cfg: Config | None = None):
        from dreamavatar.motion.builtin import builtin_motions

        self.cfg = cfg or PoseSampler.Config()
        if not 0.0 <= self.cfg.p_canonical <= 1.0:
            raise UserError(f"p_canonical is {self.cfg.p_canonical}: give a probability between 0 and 1")
        names = tuple(self.cfg.motions) or tuple(builtin_motions())
        self.frames = _frame_table(names, self.cfg.mirror)  # N x 24 x 3 degrees
        width = (LIMITS_DEG[..., 1] - LIMITS_DEG[..., 0]).double()
        self.noise_std = torch.clamp(width / 4, max=self.cfg.noise_deg)  # 24 x 3
        self.noise_std[0] = torch.clamp(self.noise_std[0], max=self.cfg.noise_deg / 2)  # keep the body upright-ish

    def __len__(self) -> int:
        """Number of distinct source frames."""
        return self.frames.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n poses, n x 24 x 3 float32 axis-angle; a fraction p_canonical of them is the canonical A-pose."""
        with single_thread():
            idx = torch.randint(len(self), (n,), generator=generator)
            noise = torch.randn(n, 24, 3, generator=generator, dtype=torch.float64) * self.noise_std
            yaw = (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * self.cfg.max_yaw_deg
            canonical = torch.rand(n, generator=generator) < self.cfg.p_canonical
            euler = self.frames[idx] + noise
            euler[:, 0, 1] = yaw
            pose = euler_to_rotvec(clamp_to_limits(euler)).float()
            return torch.where(canonical[:, None, None], a_pose(n), pose)


@lru_cache(maxsize=8)
def _frame_table(names: tuple[str, ...], mirror: bool) -> torch.Tensor:
    """Euler angles (degrees, inside the limits, heading reset to +z) of every frame of the motions, N x 24 x 3."""
    from dreamavatar.motion.loaders import load_motion

    with single_thread():
        poses = torch.cat([load_motion(n).poses for n in names])
        if mirror:
            poses = torch.cat([poses, mirror_pose(poses)])
        euler = rotvec_to_euler(poses.double())
        euler[:, 0, 1] = 0.0  # heading (the root's outermost yaw) reset to face +z
        return clamp_to_limits(euler)
