"""Reading an image back: the colours of the top and bottom at the places the skeleton locates, and how much of the
skeleton the figure covers. Used by the tiny prior's benchmark and tests (on generated and on synthetic images)."""

from __future__ import annotations

from collections import Counter

import torch

from training.synth.captions import COLOR_RGB

_NECK, _RHIP, _RKNEE, _LHIP, _LKNEE = 1, 8, 9, 11, 12
_SHADES = torch.linspace(0.75, 1.0, 6)  # albedo x headlight shading seen on the front of the torso and thighs


def nearest_color(rgb: torch.Tensor) -> list[str]:
    """Named colour nearest to each of N x 3 rgb values, allowing for the renderer's shading (0.75-1.0)."""
    names = list(COLOR_RGB)
    ref = torch.tensor([COLOR_RGB[n] for n in names])  # K x 3
    cand = ref[:, None] * _SHADES[None, :, None]  # K x S x 3
    d = (rgb[:, None, None] - cand[None]).norm(dim=-1).amin(-1)  # N x K
    return [names[int(i)] for i in d.argmin(1)]


def _sample(img: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear colours of img (3 x H x W) at pixel coordinates uv (P x 2, centres at i + 0.5). Returns P x 3."""
    H, W = img.shape[-2:]
    grid = torch.stack([uv[:, 0] / W * 2 - 1, uv[:, 1] / H * 2 - 1], -1)[None, None]
    return torch.nn.functional.grid_sample(img[None], grid, align_corners=False)[0, :, 0].T


def _vote(img: torch.Tensor, pts: list[torch.Tensor]) -> str | None:
    if not pts:
        return None
    names = nearest_color(_sample(img, torch.stack(pts)))
    return Counter(names).most_common(1)[0][0]


def read_outfit_colors(img: torch.Tensor, keypoints_uv: torch.Tensor, visible: torch.Tensor) -> tuple[str | None, str | None]:
    """(top colour, bottom colour) of one image (3 x H x W in [0, 1]) from its 18 keypoints (pixels, 18 x 2).

    Top: the majority named colour at 30 % and 50 % of the way from the neck to the middle of the hips; bottom: at the
    middle of the hips and 30 % down each thigh. None where the keypoints needed are not visible."""
    kp, vis = keypoints_uv.float(), visible.bool()
    top, bottom = [], []
    if vis[_NECK] and vis[_RHIP] and vis[_LHIP]:
        mid_hip = (kp[_RHIP] + kp[_LHIP]) / 2
        top = [kp[_NECK] + f * (mid_hip - kp[_NECK]) for f in (0.3, 0.5)]
        bottom.append(mid_hip)
    for hip, knee in ((_RHIP, _RKNEE), (_LHIP, _LKNEE)):
        if vis[hip] and vis[knee]:
            bottom.append(kp[hip] + 0.3 * (kp[knee] - kp[hip]))
    return _vote(img, top), _vote(img, bottom)


def skeleton_coverage(img: torch.Tensor, cond: torch.Tensor, background: torch.Tensor, thresh: float = 0.12) -> float:
    """Fraction of the condition image's drawn pixels (limb lines, max channel > 0.25) where img (3 x H x W) is not
    the plain background (max channel difference > thresh): does the figure stand on the skeleton?"""
    lines = cond.amax(0) > 0.25
    if not lines.any():
        return float("nan")
    fg = (img - background.view(3, 1, 1).to(img)).abs().amax(0) > thresh
    return float((fg & lines).sum() / lines.sum())


def background_clean(img: torch.Tensor, cond: torch.Tensor, background: torch.Tensor, thresh: float = 0.12) -> float:
    """Fraction of the pixels more than 3 px from any limb line that show the plain background: the counterpart of
    `skeleton_coverage` (noise everywhere would cover the skeleton too)."""
    lines = (cond.amax(0) > 0.25).float()[None, None]
    near = torch.nn.functional.max_pool2d(lines, 7, stride=1, padding=3)[0, 0] > 0
    bg = (img - background.view(3, 1, 1).to(img)).abs().amax(0) <= thresh
    return float(bg[~near].float().mean()) if (~near).any() else float("nan")
