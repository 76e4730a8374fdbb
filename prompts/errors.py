"""Errors of the prompt library. `prompts` imports nothing from the other packages (priors and dreamavatar import it)."""


class PromptError(ValueError):
    """An unknown or malformed prompt, prompt set or spec (a user error: the message names the fix)."""
