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


def body_for(cfg) -> BodyModel:
    """The body of a run's config (anything with `body` and `smpl_dir`, e.g. `GenerateConfig`)."""
    kwargs = {"smpl_dir": cfg.smpl_dir} if cfg.body == "smpl" and cfg.smpl_dir else {}
    return load_body(cfg.body, **kwargs)


__all__ = ["BodyModel", "BodyOutput", "body_for", "load_body", "BODY_NAMES"]
