"""Subcommands of the `dreamavatar` command line; each module has `register(subparsers)`."""
