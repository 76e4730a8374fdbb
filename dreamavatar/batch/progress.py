"""The batch's one progress bar on stderr: prompts finished out of all, with done / running / failed and the time
left (tqdm's estimate from the prompts finished in this batch; those already done count as done from the start)."""

from __future__ import annotations

import sys
import time

from dreamavatar.batch.jobs import JobResult


class BatchProgress:
    def __init__(self, total: int, already_done: int, enabled: bool = True) -> None:
        from tqdm import tqdm

        self.done, self.running, self.failed = already_done, 0, 0
        self._every, self._drawn = (1.0 if sys.stderr.isatty() else 30.0), time.monotonic()
        self.bar = tqdm(total=total, initial=already_done, desc="batch", unit="prompt", file=sys.stderr, ascii=True,
                        dynamic_ncols=True, disable=not enabled, mininterval=1.0)  # fmt: skip
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"done={self.done} running={self.running} failed={self.failed}", refresh=False)
        self.bar.refresh()

    def started(self) -> None:
        self.running += 1
        self._postfix()

    def finished(self, result: JobResult) -> None:
        self.running = max(0, self.running - 1)
        if result.status == "done":
            self.done += 1
        elif result.status == "failed":
            self.failed += 1
        if result.status != "interrupted":
            self.bar.update(1)
        self._postfix()

    def refresh(self) -> None:
        """Redraw for the elapsed time and time left (every second on a terminal, every 30 s into a file)."""
        now = time.monotonic()
        if now - self._drawn >= self._every:
            self.bar.refresh()
            self._drawn = now

    def close(self) -> None:
        self.bar.close()
