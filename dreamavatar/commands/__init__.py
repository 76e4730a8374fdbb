"""Subcommands of the `dreamavatar` command line; each module has `register(subparsers)`."""

# The --fps option of every command that reads a motion file.
FPS_HELP = ("frame rate of a motion file that records none: SMPL-X .npy arrays (default 30; clips cut from AIST++ "
            "are 60); AMASS, AIST++ .pkl and BVH files carry their own")  # fmt: skip
