"""Errors a user can cause. Each carries one message that names the fix; the command line prints it and exits 2."""


class UserError(Exception):
    """A problem with the user's input, files or setup (never a bug in dreamavatar)."""
