"""Motions: the `Motion` type, file loaders, the built-in procedural motions and the training pose sampler."""

from dreamavatar.motion.builtin import builtin_motions, list_motions
from dreamavatar.motion.loaders import load_motion
from dreamavatar.motion.motion import Motion, parse_frame_range, still_motion
from dreamavatar.motion.sampler import PoseSampler

__all__ = ["Motion", "PoseSampler", "builtin_motions", "list_motions", "load_motion", "parse_frame_range", "still_motion"]
