"""Stage 0, body-guided initialisation: fit the canonical field's opacity to the canonical body's silhouettes.

Only density is fitted (MSE between accumulated opacity and the mesh mask, random cameras in the training ranges), no
colour, rendered through the avatar field in the canonical pose (so the density weight w is part of what is fitted,
as in every later stage). The result depends only on the body, the configs and the room given to loose garments
(`dreamavatar.field.loose`: the fit clears those volumes, so score distillation grows a dress from an empty, not a
hazy, start), so it is cached on disk and every prompt with the same body and loose garments reuses it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from dreamavatar.body.base import BodyOutput
from dreamavatar.field.avatar import AvatarField
from dreamavatar.io import atomic_torch_save

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the fitting procedure changes what a cached field means


@dataclass
class InitConfig:
    iterations: int = field(default=150, metadata={"min": 0})
    resolution: int = field(default=48, metadata={"min": 8, "render_size": True})  # pixels of the silhouette views
    views: int = field(default=64, metadata={"min": 1})  # random cameras (the training ranges): ray pool
    rays_per_step: int = field(default=2048, metadata={"min": 1})
    step: float = field(default=0.02, metadata={"gt": 0})  # metres between samples along a ray (body-guided)
    lr: float = field(default=1e-2, metadata={"min": 0})  # Adam, hash grid and MLP
    seed: int = 0
    cache: bool = True
    cache_dir: str = "~/.cache/dreamavatar/init"


@dataclass
class InitResult:
    path: Path | None  # the cache file (None when caching is off)
    cached: bool  # loaded from the cache rather than fitted
    seconds: float
    loss: float  # final MSE (nan when loaded)


def cache_key(avatar: AvatarField, canonical: BodyOutput, cfg: InitConfig, body_name: str = "") -> str:
    """Hash of everything the fitted field depends on: body geometry, field and init configs, loose-garment volumes,
    version."""
    from omegaconf import OmegaConf

    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION}:{body_name}".encode())
    h.update(canonical.vertices[0].detach().float().cpu().numpy().round(5).tobytes())
    h.update(canonical.faces.cpu().numpy().tobytes())
    h.update(OmegaConf.to_yaml(OmegaConf.structured(avatar.cfg)).encode())
    fit = {k: v for k, v in asdict(cfg).items() if k not in ("cache", "cache_dir")}
    h.update(repr(sorted(fit.items())).encode())
    if avatar.loose is not None:
        h.update(repr(avatar.loose.volumes).encode())
    return h.hexdigest()[:20]


def silhouette_rays(canonical: BodyOutput, cfg: InitConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rays of `cfg.views` random cameras and the body mask at each pixel. -> (origins R x 3, dirs R x 3, mask R)."""
    from renderers.cameras import sample_cameras
    from renderers.raster import rasterize
    from renderers.rays import pixel_rays

    gen = torch.Generator().manual_seed(cfg.seed)
    cams, _ = sample_cameras(cfg.views, cfg.resolution, generator=gen)
    v = canonical.vertices[:1].detach().float().expand(cfg.views, -1, -1)
    masks = rasterize(v, canonical.faces, torch.ones(v.shape[1], 3), cams, shading=False).mask  # silhouettes only
    origins, dirs = pixel_rays(cams)
    return origins.reshape(-1, 3), dirs.reshape(-1, 3), masks.reshape(-1).float()


def fit_opacity(avatar: AvatarField, canonical: BodyOutput, cfg: InitConfig, progress: bool = True) -> float:
    """Fit the canonical NeRF so rendered opacity matches the body's silhouettes. Returns the final loss (mean of
    the last 20 steps)."""
    from tqdm import tqdm

    from dreamavatar.render import posed_render, render_rays

    origins, dirs, mask = silhouette_rays(canonical, cfg)
    pr = posed_render(avatar, canonical, ray_step=cfg.step)
    keep = _rays_hitting(origins, dirs, pr.aabb)  # rays that miss the box are trivially empty
    origins, dirs, mask = origins[keep], dirs[keep], mask[keep]
    params = list(avatar.canonical.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.99), eps=1e-15)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    losses: list[float] = []
    bar = tqdm(range(cfg.iterations), desc="stage 0: fit body", file=sys.stderr, disable=not progress, ascii=True)
    for _ in bar:
        idx = torch.randint(0, origins.shape[0], (cfg.rays_per_step,), generator=gen)
        out = render_rays(pr, origins[idx], dirs[idx], perturb=True)
        loss = torch.nn.functional.mse_loss(out["opacity"], mask[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    tail = losses[-20:]
    return sum(tail) / max(len(tail), 1)


def _rays_hitting(origins: torch.Tensor, dirs: torch.Tensor, aabb: torch.Tensor) -> torch.Tensor:
    from renderers.rays import ray_aabb

    t0, t1 = ray_aabb(origins, dirs, aabb)
    return (t1 > t0.clamp(min=0)) & (t1 > 0)



def initialize(
    avatar: AvatarField,
    canonical: BodyOutput,
    cfg: InitConfig | None = None,
    body_name: str = "",
    progress: bool = True,
) -> InitResult:
    """Stage 0: load the fitted canonical field from the cache, or fit it (and cache it). Changes `avatar` in place."""
    cfg = cfg or InitConfig()
    t0 = time.perf_counter()
    path = None
    if cfg.cache:
        path = Path(os.path.expanduser(cfg.cache_dir)) / f"{cache_key(avatar, canonical, cfg, body_name)}.pt"
        if path.is_file():
            try:
                avatar.canonical.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
                log.info("stage 0: reused %s", path)
                return InitResult(path, True, time.perf_counter() - t0, float("nan"))
            except Exception as e:  # a corrupt or foreign file: fit again and overwrite it
                log.warning("stage 0: ignoring unreadable cache %s (%s)", path, e)
    # the fit draws random numbers (sample jitter): keep them off the caller's stream, so a run that reuses the cache
    # continues exactly like one that fitted, and the fit itself is reproducible from cfg.seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        loss = fit_opacity(avatar, canonical, cfg, progress)
    if path is not None:
        atomic_torch_save({k: v.detach().cpu() for k, v in avatar.canonical.state_dict().items()}, path)
    return InitResult(path, False, time.perf_counter() - t0, loss)
