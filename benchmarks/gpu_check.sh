#!/usr/bin/env bash
# On the GPU machine (no network): install the carried wheels where diffusers is missing, then run the check.
# Prepared by benchmarks/gpu_check_prep.sh; writes $OUT/gpu_check.json (or outputs/gpu_check/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! $PY -c "import diffusers, roma, omegaconf" 2>/dev/null; then
    $PY -m pip install -q --no-index --find-links .cache/gpu_check/wheels diffusers roma omegaconf 2>&1 | tail -2
fi
$PY -c "import nerfacc" 2>/dev/null || $PY -m pip install -q --no-index --no-deps --find-links .cache/gpu_check/wheels nerfacc 2>&1 | tail -1 || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 480 $PY benchmarks/gpu_check.py --budget 420 "$@"
