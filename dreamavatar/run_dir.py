"""A run directory: config.yaml, checkpoints/, previews/, turntable.mp4 and run.json.

Checkpoints hold everything a resumed run needs to continue exactly (model, optimiser, random states, step), and
are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from dreamavatar.errors import UserError
from dreamavatar.io import atomic_json, atomic_torch_save

CHECKPOINT = "last.pt"


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

    def check_free(self, resume: bool) -> None:
        """An existing, non-empty run directory is refused unless resuming."""
        if self.root.exists() and any(self.root.iterdir()) and not resume:
            raise UserError(
                f"{self.root} already exists: pass --resume to continue that run, or choose another --out"
            )

    def create(self, resume: bool) -> None:
        """Make the folders (after `check_free`)."""
        self.check_free(resume)
        (self.root / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.previews.mkdir(parents=True, exist_ok=True)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_torch_save(state, self.checkpoint)

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint.is_file():
            return None
        try:
            return torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        except Exception as e:
            raise UserError(
                f"checkpoint {self.checkpoint} is unreadable ({e}): delete it to restart the run from scratch"
            ) from None

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
