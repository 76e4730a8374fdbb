"""The batch's contact sheet, DIR/index.html (each avatar's front and back view, its turntable, prompt and seconds;
relative links only, so it reads offline and moves with DIR), and DIR/summary.json with the same facts. Both are
rewritten after each prompt finishes."""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Any, Optional

from dreamavatar.batch.jobs import Job, JobResult, job_done, read_run_summary

SHEET_DIR = "sheet"  # DIR/sheet/NAME.front.png, NAME.back.png


def _rel(path: str | Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _crop_views(job: Job, out: Path) -> dict[str, Optional[str]]:
    """DIR/sheet/NAME.{front,back}.png from the run's latest preview (redone when the preview is newer)."""
    from dreamavatar.io import atomic_image
    from dreamavatar.run_dir import RunDir
    from prompts import VIEW_AZIMUTH

    run = RunDir(job.run_dir)
    preview = run.latest_preview()
    views: dict[str, Optional[str]] = {"front": None, "back": None}
    if preview is None:
        return views
    for view in views:
        target = out / SHEET_DIR / f"{job.name}.{view}.png"
        if not target.is_file() or target.stat().st_mtime < preview.stat().st_mtime:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_image(run.preview_view(VIEW_AZIMUTH[view]), target)
        views[view] = _rel(target, out)
    return views


def run_record(job: Job, result: Optional[JobResult], out: Path) -> dict[str, Any]:
    """What summary.json says of one prompt (paths relative to DIR)."""
    run = read_run_summary(job.run_dir)
    status = result.status if result is not None else ("done" if job_done(job) else "pending")
    extra = {s.kind: _rel(s.output, out) for s in job.steps if s.kind != "generate" and Path(s.output).is_file()}
    turntable = Path(job.run_dir) / "turntable.mp4"
    return {
        "name": job.name,
        "prompt": job.prompt,
        "status": status,
        "error": result.error if result is not None else None,
        "run_dir": _rel(job.run_dir, out) if Path(job.run_dir).is_dir() else None,
        "log": _rel(job.log, out) if Path(job.log).is_file() else None,
        "seconds": run.get("seconds"),  # training time of the run (run.json), whichever batch made it
        "steps": run.get("steps"),
        "seed": run.get("seed"),
        "prior": run.get("prior"),
        "final_loss": run.get("final_loss"),
        "task_seconds": result.seconds if result is not None else None,  # wall time in this batch
        "ran": result.ran if result is not None else [],
        "resumed": result.resumed if result is not None else False,
        **_crop_views(job, out),
        "turntable": _rel(turntable, out) if turntable.is_file() else None,
        "animation": extra.get("animate"),
        "export": extra.get("export"),
    }


def write_sheet(out: Path, title: str, jobs: list[Job], results: dict[str, JobResult],
                meta: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Write DIR/summary.json and DIR/index.html; returns the summary."""
    from dreamavatar.io import atomic_json, atomic_write

    runs = [run_record(j, results.get(j.name), out) for j in jobs]
    counts = {s: sum(r["status"] == s for r in runs) for s in ("done", "failed", "interrupted", "pending")}
    summary = {"prompt_set": title, "written": time.strftime("%Y-%m-%d %H:%M:%S"), **meta, "counts": counts,
               "runs": runs}  # fmt: skip
    atomic_json(summary, out / "summary.json")
    page = render_html(summary).encode("utf-8")
    atomic_write(out / "index.html", lambda f: f.write(page))
    return summary


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
.runs { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1em; }
figure { margin: 0; padding: .6em; background: #fff; border: 1px solid #ddd; border-radius: 6px; }
figure.failed { border-color: #c33; } figure.pending, figure.interrupted { opacity: .6; }
.views { display: flex; gap: 4px; min-height: 128px; }
.views img, .views video { width: 128px; height: 128px; image-rendering: pixelated; background: #eee; }
figcaption { margin-top: .4em; } .prompt { font-weight: 600; } .meta, .links { color: #666; font-size: 12px; }
.error { color: #c33; font-size: 12px; white-space: pre-wrap; }
"""


def _card(r: dict[str, Any]) -> str:
    e = html.escape
    views = []
    for view in ("front", "back"):
        if r[view]:
            views.append(f'<img src="{e(r[view])}" alt="{view} view" title="{view}">')
    if r["turntable"]:
        views.append(f'<video src="{e(r["turntable"])}" autoplay loop muted playsinline title="turntable"></video>')
    meta = [r["status"]]
    if r["seconds"] is not None:
        meta.append(f'{r["seconds"]:.0f} s training')
    if r["steps"] is not None:
        meta.append(f'{r["steps"]} steps')
    if r["seed"] is not None:
        meta.append(f'seed {r["seed"]}')
    if r["task_seconds"] is not None and r["ran"]:
        meta.append(f'{r["task_seconds"]:.0f} s in this batch ({", ".join(r["ran"])}{", resumed" if r["resumed"] else ""})')
    links = [f'<a href="{e(r["run_dir"])}/">run folder</a>'] if r["run_dir"] else []
    for label, key in (("turntable", "turntable"), ("animation", "animation"), ("export", "export"), ("log", "log")):
        if r[key]:
            links.append(f'<a href="{e(r[key])}">{label}</a>')
    if r["steps"] is not None:
        links.append(f'<a href="{e(r["run_dir"])}/run.json">run.json</a>')
    error = f'<div class="error">{e(r["error"])}</div>' if r["error"] and r["status"] == "failed" else ""
    return (f'<figure class="{e(r["status"])}" id="{e(r["name"])}"><div class="views">{"".join(views)}</div>'
            f'<figcaption><div class="prompt">{e(r["prompt"])}</div><div class="meta">{e(r["name"])} &middot; '
            f'{e(" · ".join(meta))}</div><div class="links">{" &middot; ".join(links)}</div>{error}</figcaption>'
            "</figure>")  # fmt: skip


def render_html(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    title = html.escape(f"dreamavatar batch: {summary['prompt_set']}")
    counts = ", ".join(f"{n} {s}" for s, n in c.items() if n)
    cards = "\n".join(_card(r) for r in summary["runs"])
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body><h1>{title}</h1>"
            f'<p>{len(summary["runs"])} prompts: {html.escape(counts)}. Written {html.escape(summary["written"])}.</p>'
            f'<div class="runs">\n{cards}\n</div></body></html>\n')  # fmt: skip
