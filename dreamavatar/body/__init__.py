"""Body models (anny, the free default; smpl through the user's own files) behind one contract."""

from __future__ import annotations

from dreamavatar.body.base import BodyModel, BodyOutput

BODY_NAMES = ("anny", "smpl")


def load_body(name: str = "anny", **kwargs) -> BodyModel:
    """Build a body model by name: "anny" (default, free) or "smpl" (needs `smpl_dir=` or DREAMAVATAR_SMPL_DIR)."""
    from dreamavatar.errors import UserError

    if name == "anny":
        from dreamavatar.body.anny_body import AnnyBody

        return AnnyBody(**kwargs)
    if name == "smpl":
        from dreamavatar.body.smpl_body import SMPLBody

        return SMPLBody(**kwargs)
    raise UserError(f"unknown body {name!r}: use one of {', '.join(BODY_NAMES)} (e.g. --body anny)")


def body_options(name: str, spec=None, smpl_dir: str | None = None) -> dict:
    """`load_body` options for a body shaped by a spec (`prompts.spec.Spec`, or None for the default body): anny takes
    the spec's six phenotype values; smpl keeps betas 0 (its shape space is not anny's) and takes only `smpl_dir`."""
    if name == "anny" and spec is not None:
        return dict(zip(("gender", "age", "muscle", "weight", "height", "proportions"), spec.body.values(), strict=True))
    return {"smpl_dir": smpl_dir} if name == "smpl" and smpl_dir else {}


def body_for(cfg) -> BodyModel:
    """The body of a run's config (anything with `body`, `smpl_dir` and optionally `spec`, e.g. `GenerateConfig`):
    anny shaped by the spec's body on every path (stage 0, training, animate, compose, export)."""
    return load_body(cfg.body, **body_options(cfg.body, getattr(cfg, "spec", None), cfg.smpl_dir))


__all__ = ["BodyModel", "BodyOutput", "body_for", "body_options", "load_body", "BODY_NAMES"]
