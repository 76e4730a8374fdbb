"""A run directory: config.yaml, checkpoints/, previews/, turntable.mp4 and run.json.

Checkpoints hold everything a resumed run needs to continue exactly (model, optimiser, random states, step), and
are written atomically. They hold plain tensors, numbers, strings and containers only and are read with
`weights_only=True`, so a run directory someone sends you cannot run code.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamavatar.errors import UserError
from dreamavatar.io import atomic_json, atomic_torch_save, clean_stale_tmp, load_tensors

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import numpy as np

CHECKPOINT = "last.pt"
AVATAR_KEYS = ("avatar",)  # what rendering a run needs
RESUME_KEYS = ("step", "avatar", "optimizer", "generator", "torch_rng")  # what continuing it needs
# previews/step_NNNNNN.png: one (render, skeleton) pair of square panels per azimuth, left to right
PREVIEW_AZIMUTHS = (0.0, 90.0, 180.0, 270.0)


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / CHECKPOINT

    @property
    def previews(self) -> Path:
        return self.root / "previews"

    @property
    def turntable(self) -> Path:
        return self.root / "turntable.mp4"

    @property
    def summary(self) -> Path:
        return self.root / "run.json"

    def latest_preview(self) -> Path | None:
        """The preview of the highest step, or None before the first one."""
        files = sorted(self.previews.glob("step_*.png")) if self.previews.is_dir() else []
        return files[-1] if files else None

    def preview_view(self, azimuth: float) -> "np.ndarray | None":
        """The render panel (H x H x 3 uint8) of the latest preview at one of `PREVIEW_AZIMUTHS`, or None."""
        import numpy as np
        from PIL import Image

        path = self.latest_preview()
        if path is None:
            return None
        img = np.asarray(Image.open(path).convert("RGB"))
        h = img.shape[0]
        i = 2 * PREVIEW_AZIMUTHS.index(float(azimuth))
        return img[:, i * h : (i + 1) * h]

    def check_free(self, resume: bool) -> None:
        """An existing, non-empty run directory is refused unless resuming."""
        if self.root.is_dir() and any(self.root.iterdir()) and not resume:
            raise UserError(
                f"{self.root} already exists: pass --resume to continue that run, or choose another --out"
            )

    def create(self, resume: bool) -> None:
        """Make the folders (after `check_free`); a resumed run first drops the temporary files a killed process
        left mid-write."""
        self.check_free(resume)
        if self.root.is_dir():
            for p in clean_stale_tmp(self.root):
                log.info("removed %s, left by an interrupted write", p)
        (self.root / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.previews.mkdir(parents=True, exist_ok=True)

    def load_config(self):
        """The run's GenerateConfig from its config.yaml (every message names the file)."""
        from dreamavatar.run_config import load_generate_config

        try:
            return load_generate_config([self.config], what="the run's config")
        except UserError as e:
            msg = str(e)
            raise UserError(msg if str(self.config) in msg else f"{self.config}: {msg}") from None

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_torch_save(state, self.checkpoint)

    def load_checkpoint(self, keys: tuple[str, ...] = RESUME_KEYS) -> dict[str, Any] | None:
        """The last checkpoint (None when there is none), checked to hold `keys`."""
        if not self.checkpoint.is_file():
            return None
        state = load_tensors(self.checkpoint)
        missing = [k for k in keys if k not in state] if isinstance(state, dict) else list(keys)
        if missing:
            raise UserError(
                f"checkpoint {self.checkpoint} is not a dreamavatar checkpoint (no {', '.join(missing)}): delete it "
                "to restart the run from scratch"
            )
        return state

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_json(summary, self.summary)

    def read_summary(self) -> dict[str, Any]:
        return json.loads(self.summary.read_text()) if self.summary.is_file() else {}


def open_run(path: str | Path) -> RunDir:
    """An existing, finished-or-checkpointed run directory, or a UserError naming the fix."""
    run = RunDir(path)
    if not run.root.is_dir():
        raise UserError(f"{run.root} is not a directory: give the --out folder of a `dreamavatar generate` run")
    if not run.config.is_file() or not run.checkpoint.is_file():
        raise UserError(
            f"{run.root} is not a dreamavatar run (no config.yaml or checkpoints/{CHECKPOINT}): give the --out "
            "folder of a `dreamavatar generate` run"
        )
    return run
