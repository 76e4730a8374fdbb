"""Errors a user can cause inside `priors` (kept separate: `priors` never imports `dreamavatar`)."""


class PriorError(ValueError):
    """Missing or unusable prior weights, bad prompts: the message names the fix."""
