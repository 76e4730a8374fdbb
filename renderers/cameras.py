"""Pinhole cameras in the OpenCV convention (camera x right, y down, z forward), batched.

World frame: y up; a body faces +z. Orbit angles: polar from +y in degrees (90 = level), azimuth in degrees about +y
with 0 on the +z axis (in front of the body) and 90 on the +x axis (the body's left side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Cameras:
    """B cameras sharing one image size.

    c2w:   B x 4 x 4 camera-to-world (OpenCV axes)
    fov_y: B vertical field of view in degrees
    width, height: image size in pixels
    """

    c2w: torch.Tensor
    fov_y: torch.Tensor
    width: int
    height: int

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, idx: int | slice) -> "Cameras":
        idx = slice(idx, idx + 1) if isinstance(idx, int) else idx
        return Cameras(self.c2w[idx], self.fov_y[idx], self.width, self.height)

    @property
    def focal(self) -> torch.Tensor:
        """B focal lengths in pixels (square pixels)."""
        return 0.5 * self.height / torch.tan(torch.deg2rad(self.fov_y) / 2)

    @property
    def intrinsics(self) -> torch.Tensor:
        """B x 3 x 3 pixel intrinsics; pixel centres at integer + 0.5."""
        K = torch.zeros(len(self), 3, 3, dtype=self.c2w.dtype, device=self.c2w.device)
        K[:, 0, 0] = K[:, 1, 1] = self.focal
        K[:, 0, 2] = self.width / 2
        K[:, 1, 2] = self.height / 2
        K[:, 2, 2] = 1
        return K

    @property
    def w2c(self) -> torch.Tensor:
        return torch.linalg.inv(self.c2w)

    @property
    def centers(self) -> torch.Tensor:  # B x 3
        return self.c2w[:, :3, 3]

    def resized(self, width: int, height: int | None = None) -> "Cameras":
        """The same cameras at another image size (same field of view)."""
        return Cameras(self.c2w, self.fov_y, width, height if height is not None else width)

    def to(self, device: torch.device | str) -> "Cameras":
        return Cameras(self.c2w.to(device), self.fov_y.to(device), self.width, self.height)


def project(points: torch.Tensor, cams: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world points. points: B x N x 3 -> (pixels B x N x 2 in (u, v), depth B x N along the optical axis)."""
    w2c = cams.w2c.to(points)
    pc = points @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]
    z = pc[..., 2]
    uv = (pc[..., :2] / z.clamp(min=1e-8).unsqueeze(-1)) @ cams.intrinsics.to(points)[:, :2, :2].transpose(1, 2)
    uv = uv + cams.intrinsics.to(points)[:, None, :2, 2]
    return uv, z


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-to-world matrices (OpenCV axes) looking from eye to target. eye, target: B x 3 -> B x 4 x 4."""
    up = torch.tensor([0.0, 1.0, 0.0], dtype=eye.dtype, device=eye.device) if up is None else up.to(eye)
    fwd = torch.nn.functional.normalize(target - eye, dim=-1)
    right = torch.linalg.cross(fwd, up.expand_as(fwd), dim=-1)
    # looking straight up or down: any right vector perpendicular to fwd will do
    degenerate = right.norm(dim=-1, keepdim=True) < 1e-6
    right = torch.where(degenerate, torch.tensor([1.0, 0.0, 0.0], dtype=eye.dtype, device=eye.device), right)
    right = torch.nn.functional.normalize(right, dim=-1)
    down = torch.linalg.cross(fwd, right, dim=-1)
    c2w = torch.zeros(eye.shape[0], 4, 4, dtype=eye.dtype, device=eye.device)
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2], c2w[:, :3, 3] = right, down, fwd, eye
    c2w[:, 3, 3] = 1
    return c2w


def orbit_position(radius: torch.Tensor, polar_deg: torch.Tensor, azimuth_deg: torch.Tensor) -> torch.Tensor:
    """Points on spheres: polar from +y, azimuth 0 at +z and 90 at +x. All B -> B x 3."""
    th, ph = torch.deg2rad(polar_deg), torch.deg2rad(azimuth_deg)
    return torch.stack(
        [radius * torch.sin(th) * torch.sin(ph), radius * torch.cos(th), radius * torch.sin(th) * torch.cos(ph)], -1
    )


def orbit_cameras(
    radius: torch.Tensor | float,
    polar_deg: torch.Tensor | float,
    azimuth_deg: torch.Tensor | float,
    fov_y: torch.Tensor | float,
    size: int | tuple[int, int],
    target: torch.Tensor | tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Cameras:
    """Cameras on orbits around `target`, looking at it with y up. Scalars broadcast to the batch."""
    vals = [torch.as_tensor(v, dtype=torch.float32) for v in (radius, polar_deg, azimuth_deg, fov_y)]
    B = max(v.numel() for v in vals)
    radius, polar, az, fov = (v.reshape(-1).expand(B).clone() for v in vals)
    tgt = torch.as_tensor(target, dtype=torch.float32).reshape(-1, 3).expand(B, 3)
    eye = tgt + orbit_position(radius, polar, az)
    w, h = (size, size) if isinstance(size, int) else size
    return Cameras(look_at(eye, tgt), fov, w, h)


@dataclass
class CameraRanges:
    """Ranges of random training cameras (DreamWaltz's published ranges): uniform in each."""

    radius: tuple[float, float] = (1.0, 2.0)
    polar_deg: tuple[float, float] = (60.0, 120.0)
    azimuth_deg: tuple[float, float] = (0.0, 360.0)
    fov_deg: tuple[float, float] = (40.0, 70.0)


def sample_cameras(
    batch: int,
    size: int,
    ranges: CameraRanges | None = None,
    target: tuple[float, float, float] = (0.0, 0.0, 0.0),
    generator: torch.Generator | None = None,
) -> tuple[Cameras, torch.Tensor]:
    """Random cameras within `ranges` looking at `target`. Returns (cameras, azimuths in degrees, B)."""
    r = ranges or CameraRanges()

    def u(lo_hi: tuple[float, float]) -> torch.Tensor:
        lo, hi = lo_hi
        return lo + (hi - lo) * torch.rand(batch, generator=generator)

    radius, polar, az, fov = u(r.radius), u(r.polar_deg), u(r.azimuth_deg), u(r.fov_deg)
    return orbit_cameras(radius, polar, az, fov, size, target), az


def fov_to_fit(height_m: float, distance: float, margin: float = 1.1) -> float:
    """Vertical field of view (degrees) that fits an object `height_m` tall at `distance`, with a margin."""
    return math.degrees(2 * math.atan(margin * height_m / 2 / distance))
