"""Reading an image back against its spec, for the tiny prior's benchmark and tests: garment colours at the places the
OpenPose keypoints locate, garment kinds from the figure's shape, and how much of the skeleton the figure covers.
Every reader runs on generated images and on the ground-truth renders alike (the latter give its ceiling).

Colours (`color_right`): an observed pixel (sRGB) is the colour c of the spec when some shading s in [0.3, 1.2] of
c (s x sRGB, clipped, as the headlight and materials shade it) lies within `COLOR_TOLERANCE` = 20 of it in CIELAB,
with lightness differences counting half:  min_s sqrt((dL / 2)^2 + da^2 + db^2) <= 20.  So hue and chroma must
match (about 20 deg of hue at chroma 50), while lightness may vary with shading; a grey must be seen grey (chroma
within 20) and black is not white. Two-colour patterns accept either colour or their even mix.

Probes (pixel positions from the keypoints; each probe votes by majority over its points):
    chest   30, 40 and 50 % of the way from the neck to the middle of the hips
    thighs  35 % and 50 % down each visible thigh (hip -> knee)
`expected_garments(spec, view)` says which garment each probe should show (the outermost layer there, with the cape
on back views), or None where it is ambiguous (long hair over the back, a hem right at the probe).

Kinds:
    legs_joined   the space between the two legs at a leg position (35, 50 and 65 % of the way across) is filled
                  (a skirt or dress) or shows the background somewhere (trousers, bare legs); None when the legs
                  are too close together to tell
    headwear      the figure reaches above the head by more than 0.55 x the head's size (neck -> nose distance) plus
                  the head itself, or the top of the head shows the headwear's colour
    cape          on a back view: the back (chest probe) and the space between the thighs both show one colour,
                  the cape's
"""

from __future__ import annotations

import numpy as np
import torch

from prompts.spec import Garment, Spec, hex_to_rgb, rgb_to_hex
from training.synth.color import rgb_to_lab

COLOR_TOLERANCE = 20.0
_SHADES = np.linspace(0.3, 1.2, 19)
_NOSE, _NECK, _RSH, _LSH, _RHIP, _RKNEE, _RANK, _LHIP, _LKNEE, _LANK = 0, 1, 2, 5, 8, 9, 10, 11, 12, 13
CHEST_AT = (0.3, 0.4, 0.5)
THIGH_AT = (0.35, 0.5)
HEADWEAR_REACH = 0.55  # torso lengths above the face
GAP_THRESHOLD = 0.12  # a pixel between the legs this close to the background is a gap (edges blend at 32 px)
BG_THRESHOLD = 0.12  # max channel difference from the plain background that still counts as background


def color_distance(observed: np.ndarray, color: str) -> np.ndarray:
    """Shading-tolerant CIELAB distance (module docstring) of observed sRGB pixels (... x 3) to a colour."""
    c = np.asarray(hex_to_rgb(color))
    cand = rgb_to_lab(np.clip(_SHADES[:, None] * c[None], 0, 1))  # S x 3
    o = rgb_to_lab(np.asarray(observed, np.float64))[..., None, :]  # ... x 1 x 3
    d = o - cand
    return np.sqrt((d[..., 0] / 2) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2).min(-1)


def color_right(observed: np.ndarray, garment_or_color) -> np.ndarray:
    """Whether observed sRGB pixels (... x 3) show a garment's colour or a '#rrggbb'. A two-colour pattern accepts
    either colour or their even mix (a pattern finer than a pixel)."""
    if isinstance(garment_or_color, str):
        colors = [garment_or_color]
    else:
        colors = [c for c in (garment_or_color.color, garment_or_color.color2) if c]
        if len(colors) == 2:
            colors.append(rgb_to_hex([(a + b) / 2 for a, b in zip(hex_to_rgb(colors[0]), hex_to_rgb(colors[1]))]))
    return np.min([color_distance(observed, c) for c in colors], 0) <= COLOR_TOLERANCE


def _sample(img: torch.Tensor, uv: torch.Tensor) -> np.ndarray:
    """Bilinear colours of img (3 x H x W) at pixel coordinates uv (P x 2, centres at i + 0.5). Returns P x 3."""
    H, W = img.shape[-2:]
    grid = torch.stack([uv[:, 0] / W * 2 - 1, uv[:, 1] / H * 2 - 1], -1)[None, None].to(img)
    return torch.nn.functional.grid_sample(img[None], grid, align_corners=False)[0, :, 0].T.cpu().numpy()


def probe_points(kp: torch.Tensor, vis: torch.Tensor) -> dict[str, torch.Tensor | None]:
    """Pixel positions of the probes (module docstring) from keypoints (18 x 2) and visibility (18); None when the
    keypoints a probe needs are not visible."""
    kp, vis = kp.float(), vis.bool()
    out: dict[str, torch.Tensor | None] = {"chest": None, "thighs": None}
    if vis[_NECK] and vis[_RHIP] and vis[_LHIP]:
        mid = (kp[_RHIP] + kp[_LHIP]) / 2
        out["chest"] = torch.stack([kp[_NECK] + f * (mid - kp[_NECK]) for f in CHEST_AT])
    thighs = [kp[h] + f * (kp[k] - kp[h]) for h, k in ((_RHIP, _RKNEE), (_LHIP, _LKNEE)) if vis[h] and vis[k] for f in THIGH_AT]
    if thighs:
        out["thighs"] = torch.stack(thighs)
    return out


def read_probes(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor) -> dict[str, np.ndarray | None]:
    """Observed sRGB colours (P x 3) at each probe of one image (3 x H x W in [0, 1])."""
    return {k: None if p is None else _sample(img, p) for k, p in probe_points(kp, vis).items()}


def _covers_thigh(gm: Garment) -> bool | None:
    """Whether a garment's length reaches the thigh probes (leg coordinate about 0.18-0.25); None: too close."""
    if gm.kind == "tutu":
        return None
    length = gm.resolved_length()
    if length is None:
        return True
    return True if length >= 0.32 else None if length > 0.1 else False


def expected_garments(spec: Spec, view: str) -> dict[str, object | None]:
    """The garment each probe should show (a `Garment`, "skin", or None where it is ambiguous) for a view."""
    by = {r: spec.garment(r) for r in ("top", "outer", "full", "bottom", "back")}
    cape = by["back"] if by["back"] is not None and by["back"].kind in ("cape", "cloak") else None
    out: dict[str, object | None] = {}
    hair = spec.hair.style if spec.hair else "bald"
    # chest
    if view == "back" and cape is not None:
        out["chest"] = cape
    elif view == "back" and hair in ("long", "braids", "ponytail"):
        out["chest"] = None
    elif by["outer"] is not None:  # an apron only covers the front
        out["chest"] = by["outer"] if by["outer"].kind != "apron" or view == "front" else None
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


def score_colors(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, spec: Spec, view: str) -> dict[str, bool | None]:
    """Per probe: whether the image shows the expected garment's colour there (majority of the probe's points), or
    None where it cannot be told (ambiguous, keypoints hidden, or the garment is skin)."""
    obs = read_probes(img, kp, vis)
    exp = expected_garments(spec, view)
    out: dict[str, bool | None] = {}
    for k, o in obs.items():
        e = exp.get(k)
        if o is None or e is None:
            out[k] = None
            continue
        target = spec.skin.color if e == "skin" else e
        out[k] = bool(color_right(o, target).mean() >= 0.5)
    return out


# ---- garment kinds ------------------------------------------------------------------------------------------------
def is_background(pixels: np.ndarray, background, threshold: float = BG_THRESHOLD) -> np.ndarray:
    """pixels (... x 3) within `threshold` of the plain background in every channel."""
    return np.abs(np.asarray(pixels) - np.asarray(background, np.float64)).max(-1) <= threshold


def _leg_point(kp: torch.Tensor, hip: int, knee: int, ankle: int, u: float) -> torch.Tensor:
    """The point at leg coordinate u (0 hip, 0.5 knee, 1 ankle) along one leg's keypoints."""
    if u <= 0.5:
        return kp[hip] + (u / 0.5) * (kp[knee] - kp[hip])
    return kp[knee] + ((u - 0.5) / 0.5) * (kp[ankle] - kp[knee])


def legs_joined(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, background, u=0.35,
                min_gap: float = 3.5, garment: Garment | None = None) -> bool | None:  # fmt: skip
    """Whether the space between the legs at leg coordinate u (0 hip, 0.5 knee, 1 ankle; or a sequence of them) is
    filled (skirt, dress) rather than showing the background somewhere (trousers, bare legs). With several u it is
    joined only if joined at every u that can be read. `garment`: the garment expected there; a pixel of its colour
    is never taken for background (a pale skirt on the pale background), and a garment the colour of the
    background cannot be judged (None). None when keypoints are hidden or the legs are under `min_gap` pixels apart
    (at 32 px; scaled with the image) at every u."""
    kp, vis = kp.float(), vis.bool()
    if garment is not None and bool(color_right(np.asarray(background, np.float64), garment)):
        return None
    scale = img.shape[-1] / 32
    seen = []
    for uu in (u if isinstance(u, (tuple, list)) else (u,)):
        need = [_RHIP, _LHIP, _RKNEE, _LKNEE] + ([_RANK, _LANK] if uu > 0.5 else [])
        if not all(vis[i] for i in need):
            continue
        r = _leg_point(kp, _RHIP, _RKNEE, _RANK, uu)
        l_ = _leg_point(kp, _LHIP, _LKNEE, _LANK, uu)
        if float((r - l_).norm()) < min_gap * scale:
            continue
        px = _sample(img, torch.stack([r + t * (l_ - r) for t in (0.35, 0.5, 0.65)]))
        bg = is_background(px, background, GAP_THRESHOLD)
        if garment is not None:
            bg &= ~color_right(px, garment)
        seen.append(not bool(bg.any()))
    return all(seen) if seen else None


def head_reach(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, background) -> tuple[float, torch.Tensor] | None:
    """How far the figure reaches above the face (the mean of the visible nose, eyes and ears), in torso lengths
    (neck -> middle of the hips), scanning straight up the image in a band 0.25 torso lengths either side of the
    face; the scan stops at a gap of 2 pixels (a raised hand apart from the head does not count). Returns (reach,
    the pixel just under the top) or None when the face, neck or hips are hidden, an arm is raised over the head or the
    figure is cut off by the top of the image."""
    kp, vis = kp.float(), vis.bool()
    face = [j for j in (0, 14, 15, 16, 17) if vis[j]]
    if not (face and vis[_NECK] and vis[_RHIP] and vis[_LHIP]):
        return None
    cx, cy = float(kp[face, 0].mean()), float(kp[face, 1].mean())
    torso = max(float(((kp[_RHIP] + kp[_LHIP]) / 2 - kp[_NECK]).norm()), 1.0)
    for j in (3, 4, 6, 7):  # an elbow or wrist over the head: its top cannot be told from a raised arm
        if vis[j] and kp[j, 1] < cy + 0.1 * torso and abs(float(kp[j, 0]) - cx) < 0.6 * torso:
            return None
    H, W = img.shape[-2:]
    fg = ~is_background(img.permute(1, 2, 0).cpu().numpy(), background)
    x0, x1 = max(int(cx - 0.25 * torso), 0), min(int(cx + 0.25 * torso) + 1, W)
    if x0 >= x1 or not 0 <= cy < H:
        return None
    rows = fg[:, x0:x1].any(1)
    y = int(cy)
    top, gap = y, 0
    while y >= 0 and gap < 2:
        if rows[y]:
            top, gap = y, 0
        else:
            gap += 1
        y -= 1
    if top == 0:  # cut off by the top of the image
        return None
    cols = np.nonzero(fg[min(top + 1, H - 1), x0:x1])[0]
    x = x0 + (float(np.median(cols)) if len(cols) else cx - x0)
    return (cy - top) / torso, torch.tensor([x + 0.5, min(top + 1.5, cy)])


def headwear(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, background, garment: Garment | None = None,
             other_colors: tuple[str, ...] = (), reach: float = HEADWEAR_REACH) -> bool | None:  # fmt: skip
    """Whether the figure wears something on its head: it reaches more than `reach` torso lengths above the face
    (`head_reach`), or the top of the head shows the headwear garment's colour (given the garment) or, without
    one, none of `other_colors` (the hair's and the skin's). None when `head_reach` is None, or when the figure is
    low and the headwear's colours are close to `other_colors`."""
    r = head_reach(img, kp, vis, background)
    if r is None:
        return None
    top, at = r
    if top > reach:
        return True
    obs = _sample(img, at[None])
    if garment is not None:
        own = [c for c in (garment.color, garment.color2) if c]
        if any(color_distance(np.array(hex_to_rgb(o)), c) <= COLOR_TOLERANCE for o in other_colors for c in own):
            return None  # the headwear looks like the hair or skin: only its height could tell, and it is low
        return bool(color_right(obs, garment)[0])
    if other_colors:  # no headwear asked for: the top of the head shows the hair or the skin
        return not any(bool(color_right(obs, c)[0]) for c in other_colors)
    return False


def cape(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, view: str, color) -> bool | None:
    """Whether a cape (its `Garment`, or a '#rrggbb') is seen where a cape shows: on a back view, the back (chest probes) and the space
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


SKIRT_KINDS = ("skirt", "kilt", "dress", "robe", "kimono")
TROUSER_KINDS = ("trousers", "jeans", "leggings", "jumpsuit", "suit", "tracksuit", "uniform", "bodysuit", "wetsuit",
                 "scrubs", "overalls")  # fmt: skip
TALL_HEADWEAR = ("hat", "wide hat", "top hat", "pointed hat", "chef hat")


def score_kinds(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, spec: Spec, view: str,
                background) -> dict[str, bool | None]:  # fmt: skip
    """The garment-kind checks of one image against its spec; each True (right), False (wrong) or None (cannot be
    told, or the spec has nothing to check):
        skirt     a skirt, kilt, dress, robe or kimono reaching 0.3 or lower: `legs_joined` at 60 % of its length
                  (at most 0.45) is True (legs at least 3 px apart)
        trousers  trousers, jeans, leggings or a one-piece suit: `legs_joined` at u = 0.5 and 0.7 is False (legs at
                  least 5 px apart)
        headwear  a head garment of LOOSE "above_head" (hats, helmet, hood, crown): `headwear` with its colours;
                  no head garment: `headwear` (against the hair and skin colours) is False
        cape      a cape or cloak: `cape` is True on back views and False on front views (when the cape's colour
                  differs from the chest's garment)
    Skirt and trousers are not checked under a cape, cloak, coat or apron (they fill the legs' gap too)."""
    from prompts.spec import GARMENT_KINDS

    out: dict[str, bool | None] = {"skirt": None, "trousers": None, "headwear": None, "cape": None}
    by = {r: spec.garment(r) for r in ("head", "top", "outer", "full", "bottom", "back")}
    covered = by["back"] is not None or (by["outer"] is not None and by["outer"].kind in ("coat", "apron"))
    legs = [g for g in (by["full"], by["bottom"]) if g is not None]
    if legs and not covered:
        g = legs[0]
        if g.kind in SKIRT_KINDS and (g.resolved_length() or 0) >= 0.3:
            u = min(0.6 * g.resolved_length(), 0.45)
            out["skirt"] = legs_joined(img, kp, vis, background, u=u, min_gap=3, garment=g)
        elif g.kind in TROUSER_KINDS:
            r = legs_joined(img, kp, vis, background, u=(0.5, 0.7), min_gap=5, garment=g)
            out["trousers"] = None if r is None else not r
    others = tuple(([spec.hair.color] if spec.hair and spec.hair.style != "bald" else []) + [spec.skin.color])
    head = by["head"]
    if head is None:
        r = headwear(img, kp, vis, background, other_colors=others)
        out["headwear"] = None if r is None else not r
    elif GARMENT_KINDS[head.kind].loose == "above_head":
        out["headwear"] = headwear(img, kp, vis, background, head, other_colors=others)
    back = by["back"]
    if back is not None and back.kind in ("cape", "cloak") and view in ("front", "back"):
        r = cape(img, kp, vis, view, back)
        if view == "back":
            out["cape"] = r
        else:
            front = by["outer"] or by["full"] or by["top"]
            clash = front is not None and any(bool(color_right(np.array(hex_to_rgb(c)), back)) for c in
                                              (front.color, front.color2) if c)  # fmt: skip
            out["cape"] = None if r is None or clash else not r
    return out


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
