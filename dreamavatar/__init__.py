"""dreamavatar: text prompt -> animatable 3D human avatar (a skeleton-tied NeRF distilled from a diffusion prior)."""

import os

# OpenMP threads that spin while waiting slow everything down many times on shared CPU cores (measured 10x on 2 busy
# cores); waiting passively costs nothing on free ones. Only a default: the user's environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
