"""Reading an image back against its spec, for the tiny prior's benchmark and tests: garment colours at the places the
OpenPose keypoints locate, garment kinds from the figure's shape, and how much of the skeleton the figure covers.
Every reader runs on generated images and on the ground-truth renders alike (the latter give its ceiling).

Colours (`color_right`): an observed pixel (sRGB) is the colour c of the spec when some shading s in [0.3, 1.2] of
c (s x sRGB, clipped, as the headlight and materials shade it) lies within `COLOR_TOLERANCE` = 20 of it in CIELAB,
with lightness differences counting half:  min_s sqrt((dL / 2)^2 + da^2 + db^2) <= 20.  So hue and chroma must
match (about 20 deg of hue at chroma 50), while lightness may vary with shading; a grey must be seen grey (chroma
within 20) and black is not white. Two-colour patterns accept either colour.

Probes (pixel positions from the keypoints; each probe votes by majority over its points):
    chest   30, 40 and 50 % of the way from the neck to the middle of the hips
    thighs  35 % and 50 % down each visible thigh (hip -> knee)
`expected_garments(spec, view)` says which garment each probe should show (the outermost layer there, with the cape
on back views), or None where it is ambiguous (long hair over the back, a hem right at the probe).

Kinds:
    legs_joined   the middle point between the two legs, at a leg position, is filled (a skirt or dress) or shows
                  the background (trousers, bare legs); None when the legs are too close together to tell
    headwear      the figure reaches above the head by more than 0.55 x the head's size (neck -> nose distance) plus
                  the head itself, or the top of the head shows the headwear's colour
    cape          on a back view: the back (chest probe) and the space between the thighs both show one colour,
                  the cape's
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from prompts.spec import Garment, Spec, hex_to_rgb
from training.synth.color import rgb_to_lab

COLOR_TOLERANCE = 20.0
_SHADES = np.linspace(0.3, 1.2, 19)
_NOSE, _NECK, _RSH, _LSH, _RHIP, _RKNEE, _RANK, _LHIP, _LKNEE, _LANK = 0, 1, 2, 5, 8, 9, 10, 11, 12, 13
CHEST_AT = (0.3, 0.4, 0.5)
THIGH_AT = (0.35, 0.5)
HEADWEAR_REACH = 1.35
BG_THRESHOLD = 0.12  # max channel difference from the plain background that still counts as background


def color_distance(observed: np.ndarray, color: str) -> np.ndarray:
    """Shading-tolerant CIELAB distance (module docstring) of observed sRGB pixels (... x 3) to a colour."""
    c = np.asarray(hex_to_rgb(color))
    cand = rgb_to_lab(np.clip(_SHADES[:, None] * c[None], 0, 1))  # S x 3
    o = rgb_to_lab(np.asarray(observed, np.float64))[..., None, :]  # ... x 1 x 3
    d = o - cand
    return np.sqrt((d[..., 0] / 2) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2).min(-1)


def color_right(observed: np.ndarray, garment_or_color) -> np.ndarray:
    """Whether observed sRGB pixels (... x 3) show a garment's colour (either colour of a pattern) or a '#rrggbb'."""
    colors = [garment_or_color] if isinstance(garment_or_color, str) else [
        c for c in (garment_or_color.color, garment_or_color.color2) if c]  # fmt: skip
    return np.min([color_distance(observed, c) for c in colors], 0) <= COLOR_TOLERANCE


def _sample(img: torch.Tensor, uv: torch.Tensor) -> np.ndarray:
    """Bilinear colours of img (3 x H x W) at pixel coordinates uv (P x 2, centres at i + 0.5). Returns P x 3."""
    H, W = img.shape[-2:]
    grid = torch.stack([uv[:, 0] / W * 2 - 1, uv[:, 1] / H * 2 - 1], -1)[None, None].to(img)
    return torch.nn.functional.grid_sample(img[None], grid, align_corners=False)[0, :, 0].T.cpu().numpy()


def probe_points(kp: torch.Tensor, vis: torch.Tensor) -> dict[str, Optional[torch.Tensor]]:
    """Pixel positions of the probes (module docstring) from keypoints (18 x 2) and visibility (18); None when the
    keypoints a probe needs are not visible."""
    kp, vis = kp.float(), vis.bool()
    out: dict[str, Optional[torch.Tensor]] = {"chest": None, "thighs": None}
    if vis[_NECK] and vis[_RHIP] and vis[_LHIP]:
        mid = (kp[_RHIP] + kp[_LHIP]) / 2
        out["chest"] = torch.stack([kp[_NECK] + f * (mid - kp[_NECK]) for f in CHEST_AT])
    thighs = [kp[h] + f * (kp[k] - kp[h]) for h, k in ((_RHIP, _RKNEE), (_LHIP, _LKNEE)) if vis[h] and vis[k] for f in THIGH_AT]
    if thighs:
        out["thighs"] = torch.stack(thighs)
    return out


def read_probes(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor) -> dict[str, Optional[np.ndarray]]:
    """Observed sRGB colours (P x 3) at each probe of one image (3 x H x W in [0, 1])."""
    return {k: None if p is None else _sample(img, p) for k, p in probe_points(kp, vis).items()}


def _covers_thigh(gm: Garment) -> Optional[bool]:
    """Whether a garment's length reaches the thigh probes (leg coordinate about 0.18-0.25); None: too close."""
    if gm.kind == "tutu":
        return None
    length = gm.resolved_length()
    if length is None:
        return True
    return True if length >= 0.32 else None if length > 0.1 else False


def expected_garments(spec: Spec, view: str) -> dict[str, Optional[object]]:
    """The garment each probe should show (a `Garment`, "skin", or None where it is ambiguous) for a view."""
    by = {r: spec.garment(r) for r in ("top", "outer", "full", "bottom", "back")}
    cape = by["back"] if by["back"] is not None and by["back"].kind in ("cape", "cloak") else None
    out: dict[str, Optional[object]] = {}
    hair = spec.hair.style if spec.hair else "bald"
    # chest
    if view == "back" and cape is not None:
        out["chest"] = cape
    elif view == "back" and hair in ("long", "braids", "ponytail"):
        out["chest"] = None
    elif by["outer"] is not None and (by["outer"].kind != "apron" or view == "front"):
        out["chest"] = by["outer"] if by["outer"].kind != "apron" else by["outer"]
    elif by["outer"] is not None:  # an apron seen from the side or back
        out["chest"] = None
    else:
        out["chest"] = by["full"] or by["top"] or "skin"
    # thighs: the outermost layer that reaches them
    layers = []
    if view == "back" and cape is not None:
        layers.append(cape)
    if by["outer"] is not None and by["outer"].kind in ("coat", "apron"):
        if by["outer"].kind == "coat" or view == "front":
            layers.append(by["outer"])
        elif view != "back":
            out["thighs"] = None
            return out
    for r in ("full", "top", "bottom"):
        gm = by[r]
        if gm is not None and (r != "top" or gm.kind == "tunic"):
            layers.append(gm)
    out["thighs"] = "skin"
    for gm in layers:
        c = _covers_thigh(gm)
        if c is None:
            out["thighs"] = None
            break
        if c:
            out["thighs"] = gm
            break
    return out


def score_colors(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, spec: Spec, view: str) -> dict[str, Optional[bool]]:
    """Per probe: whether the image shows the expected garment's colour there (majority of the probe's points), or
    None where it cannot be told (ambiguous, keypoints hidden, or the garment is skin)."""
    obs = read_probes(img, kp, vis)
    exp = expected_garments(spec, view)
    out: dict[str, Optional[bool]] = {}
    for k, o in obs.items():
        e = exp.get(k)
        if o is None or e is None:
            out[k] = None
            continue
        target = spec.skin.color if e == "skin" else e
        out[k] = bool(color_right(o, target).mean() >= 0.5)
    return out


# ---- garment kinds ------------------------------------------------------------------------------------------------
def is_background(pixels: np.ndarray, background) -> np.ndarray:
    """pixels (... x 3) within BG_THRESHOLD of the plain background in every channel."""
    return (np.abs(np.asarray(pixels) - np.asarray(background, np.float64)).max(-1) <= BG_THRESHOLD)


def _leg_point(kp: torch.Tensor, hip: int, knee: int, ankle: int, u: float) -> torch.Tensor:
    """The point at leg coordinate u (0 hip, 0.5 knee, 1 ankle) along one leg's keypoints."""
    if u <= 0.5:
        return kp[hip] + (u / 0.5) * (kp[knee] - kp[hip])
    return kp[knee] + ((u - 0.5) / 0.5) * (kp[ankle] - kp[knee])


def legs_joined(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, background, u: float = 0.35,
                min_gap: float = 3.5) -> Optional[bool]:  # fmt: skip
    """Whether the space between the legs at leg coordinate u is filled (skirt, dress) rather than background
    (trousers, bare legs). None when keypoints are hidden or the legs are under `min_gap` pixels apart there
    (at 32 px; scaled with the image)."""
    kp, vis = kp.float(), vis.bool()
    need = [_RHIP, _LHIP, _RKNEE, _LKNEE] + ([_RANK, _LANK] if u > 0.5 else [])
    if not all(vis[i] for i in need):
        return None
    r = _leg_point(kp, _RHIP, _RKNEE, _RANK, u)
    l_ = _leg_point(kp, _LHIP, _LKNEE, _LANK, u)
    scale = img.shape[-1] / 32
    if float((r - l_).norm()) < min_gap * scale:
        return None
    px = _sample(img, ((r + l_) / 2)[None])
    return not bool(is_background(px, background)[0])


def head_reach(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, background) -> Optional[tuple[float, torch.Tensor]]:
    """How far the figure reaches above the nose, in head sizes (the neck -> nose distance), scanning straight up the
    image in a band 0.4 head sizes either side of the nose; the scan stops at a gap of 2 pixels (a raised hand
    apart from the head does not count). Returns (reach, pixel position just under the top) or None when the nose
    or neck is hidden."""
    kp, vis = kp.float(), vis.bool()
    if not (vis[_NOSE] and vis[_NECK]):
        return None
    nose = kp[_NOSE]
    size = max(float((nose - kp[_NECK]).norm()), 1.0)
    H, W = img.shape[-2:]
    fg = ~is_background(img.permute(1, 2, 0).cpu().numpy(), background)
    x0, x1 = max(int(nose[0] - 0.4 * size), 0), min(int(nose[0] + 0.4 * size) + 1, W)
    if x0 >= x1:
        return None
    rows = fg[:, x0:x1].any(1)
    y = min(int(nose[1]), H - 1)
    top, gap = y, 0
    while y >= 0 and gap < 2:
        if rows[y]:
            top, gap = y, 0
        else:
            gap += 1
        y -= 1
    cols = np.nonzero(fg[top, x0:x1])[0]
    x = x0 + (int(cols[len(cols) // 2]) if len(cols) else int(nose[0]) - x0)
    return (float(nose[1]) - top) / size, torch.tensor([x + 0.5, min(top + 1.0, float(nose[1]))])


def headwear(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, background, color: Optional[str] = None,
             other_colors: tuple[str, ...] = (), reach: float = HEADWEAR_REACH) -> Optional[bool]:  # fmt: skip
    """Whether the figure wears something on its head: the top of the head shows the headwear's `color` (used when
    it differs from `other_colors`, e.g. the hair and skin), else the figure reaches more than `reach` head sizes
    above the nose (`head_reach`). None when the nose or neck is hidden."""
    r = head_reach(img, kp, vis, background)
    if r is None:
        return None
    top, at = r
    if color is not None and all(color_distance(np.array(hex_to_rgb(c)), color) > COLOR_TOLERANCE for c in other_colors):
        return bool(color_right(_sample(img, at[None]), color)[0])
    return top > reach


def cape(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, view: str, color: str) -> Optional[bool]:
    """Whether a cape of `color` is seen where a cape shows: on a back view, the back (chest probes) and the space
    between the thighs show it; on a front view, the chest shows it (a cape drawn in front: wrong). None on side
    views or when keypoints are hidden."""
    probes = probe_points(kp, vis)
    if view == "side" or probes["chest"] is None:
        return None
    on_back = bool(color_right(_sample(img, probes["chest"]), color).mean() >= 0.5)
    if view == "front":
        return on_back
    kp_, vis_ = kp.float(), vis.bool()
    if not all(vis_[i] for i in (_RHIP, _LHIP, _RKNEE, _LKNEE)):
        return None
    r = _leg_point(kp_, _RHIP, _RKNEE, _RANK, 0.3)
    l_ = _leg_point(kp_, _LHIP, _LKNEE, _LANK, 0.3)
    return on_back and bool(color_right(_sample(img, ((r + l_) / 2)[None]), color)[0])


# ---- skeleton coverage --------------------------------------------------------------------------------------------
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
