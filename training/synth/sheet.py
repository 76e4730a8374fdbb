"""Contact sheets of wardrobe samples: each image (enlarged, nearest) with its view and spec summary under it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def contact_sheet(data: dict, path: str | Path, n: int = 64, cols: int = 8, scale: int = 6) -> Path:
    """Write the first n samples of a chunk dict (rgb, cond, specs, views) as a PNG grid; returns the path."""
    from PIL import Image, ImageDraw

    from prompts.spec import Spec
    from training.synth.specs import spec_summary

    n = min(n, len(data["rgb"]))
    size = data["rgb"].shape[1] * scale
    text_h = 52
    rows = (n + cols - 1) // cols
    sheet = Image.new("RGB", (cols * size, rows * (size + text_h)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    chars = max(8, size // 6)
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = c * size, r * (size + text_h)
        img = Image.fromarray(np.asarray(data["rgb"][i])).resize((size, size), Image.NEAREST)
        cond = Image.fromarray(np.asarray(data["cond"][i])).resize((size // 4, size // 4), Image.BILINEAR)
        img.paste(cond, (size - size // 4, 0))
        sheet.paste(img, (x, y))
        summary = f"{data['views'][i]} | " + spec_summary(Spec.from_json(str(data["specs"][i])))
        for k, line in enumerate(textwrap.wrap(summary, chars)[:4]):
            draw.text((x + 2, y + size + 1 + 12 * k), line, fill=(0, 0, 0))
    from dreamavatar.io import atomic_write

    return atomic_write(path, lambda f: sheet.save(f, format="PNG"))
