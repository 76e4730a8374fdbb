#!/usr/bin/env bash
# Prepare benchmarks/gpu_check.py for a GPU machine with no network (torch, transformers and accelerate installed
# there; diffusers and the rest not): pure-Python wheels and the recorded body outputs into .cache/gpu_check/
# (about 25 MB, git-ignored), which the device tool carries: run(command="bash benchmarks/gpu_check.sh",
# carry=[".cache/gpu_check"]).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache/gpu_check/wheels
.venv/bin/python -m pip download -q --no-deps -d .cache/gpu_check/wheels \
    diffusers==0.42.1 importlib_metadata zipp roma omegaconf==2.3.0 antlr4-python3-runtime==4.9.3 nerfacc==0.5.3
OMP_WAIT_POLICY=PASSIVE .venv/bin/python - <<'PY'
"""Record the anny body's outputs (canonical, 6 sampled training poses, 8 walk frames) for the GPU machine, in
float32, the faces and skinning weights once (they are the same for every pose)."""
import torch
from dreamavatar.body import load_body
from dreamavatar.motion import PoseSampler, load_motion

PER_POSE = ("vertices", "joints", "keypoints", "joint_transforms", "vertex_transforms")


def per_pose(out):
    return {k: getattr(out, k).float().clone() for k in PER_POSE}


body = load_body("anny")
with torch.no_grad():
    canonical = body.canonical()
    poses = PoseSampler().sample(6, generator=torch.Generator().manual_seed(0)).float()
    walk = load_motion("walk").slice(0, 16)
    rec = {
        "shared": {"faces": canonical.faces.clone(), "weights": canonical.weights.float().clone()},
        "canonical": per_pose(canonical),
        "poses": [per_pose(body(poses[i : i + 1])) for i in range(len(poses))],
        "walk": [per_pose(body(walk.poses[i : i + 1].float(), walk.transl[i : i + 1].float())) for i in range(0, 16, 2)],
    }
torch.save(rec, ".cache/gpu_check/bodies.pt")
PY
du -sh .cache/gpu_check
