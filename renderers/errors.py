"""Errors a user can cause inside `renderers` (kept separate: `renderers` never imports `dreamavatar`)."""


class RenderError(ValueError):
    """Bad renderer input: the message names the fix."""
