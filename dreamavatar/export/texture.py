"""A baseColor texture for engines that want one: UVs from a real unwrapper (xatlas: charts cut along seams, packed
into one square atlas) and colours baked from the avatar's field at the surface point of every covered texel.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

ColorFn = Callable[[torch.Tensor], torch.Tensor]  # N x 3 points -> N x 3 sRGB colours in [0, 1]


def unwrap(vertices: np.ndarray, faces: np.ndarray, size: int, padding: int = 4) -> tuple[np.ndarray, ...]:
    """UV-unwrap a mesh with xatlas into a `size` x `size` atlas. Vertices on a seam are split.

    Returns (vmapping V' : the original vertex of each new one, faces F x 3 into the new vertices, uv V' x 2 in
    [0, 1], glTF's convention: (0, 0) is the image's top-left corner)."""
    from dreamavatar.errors import UserError

    try:
        import xatlas
    except ImportError:
        raise UserError("--texture needs the xatlas package: pip install xatlas (or pip install -e .[texture])") from None
    atlas = xatlas.Atlas()
    atlas.add_mesh(vertices.astype(np.float32), faces.astype(np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution, pack.padding, pack.bilinear = int(size), int(padding), True
    atlas.generate(xatlas.ChartOptions(), pack)
    vmapping, new_faces, uv = atlas[0]
    return vmapping.astype(np.int64), new_faces.astype(np.int64), uv.astype(np.float64)


def bake(color_fn: ColorFn, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, size: int,
         chunk: int = 65536, dilate: int = 8) -> np.ndarray:  # fmt: skip
    """The field's colours at the surface point under every texel that a triangle covers, then `dilate` rings of
    texels grown outwards from the charts (so filtering and mipmaps never blend in the empty background).
    vertices V x 3, faces F x 3, uv V x 2 in [0, 1] -> size x size x 3 uint8 sRGB."""
    from renderers.raster import cover

    f, pix, bary = cover(torch.from_numpy(uv * size), torch.from_numpy(faces), size, size)
    points = np.einsum("pk,pkd->pd", bary.numpy(), vertices[faces[f.numpy()]])
    colors = np.empty((len(points), 3))
    with torch.no_grad():
        for s in range(0, len(points), chunk):
            colors[s : s + chunk] = color_fn(torch.from_numpy(points[s : s + chunk]).float()).clamp(0, 1).numpy()
    img = np.zeros((size * size, 3))
    filled = np.zeros(size * size, dtype=bool)
    img[pix.numpy()] = colors
    filled[pix.numpy()] = True
    img, filled = img.reshape(size, size, 3), filled.reshape(size, size)
    for _ in range(dilate):
        img, filled = _grow(img, filled)
    img[~filled] = img[filled].mean(0) if filled.any() else 0.5
    return (img * 255 + 0.5).astype(np.uint8)


def _grow(img: np.ndarray, filled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One ring of dilation: each empty texel next to filled ones takes their mean colour."""
    acc = np.zeros_like(img)
    cnt = np.zeros(filled.shape)
    pad_i = np.pad(img * filled[..., None], ((1, 1), (1, 1), (0, 0)))
    pad_f = np.pad(filled.astype(float), 1)
    H, W = filled.shape
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            acc += pad_i[dy : dy + H, dx : dx + W]
            cnt += pad_f[dy : dy + H, dx : dx + W]
    new = ~filled & (cnt > 0)
    img = img.copy()
    img[new] = acc[new] / cnt[new, None]
    return img, filled | new
