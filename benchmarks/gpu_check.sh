#!/usr/bin/env bash
# On the GPU machine (no network): install the carried wheels where diffusers is missing, then run the check.
# Prepared by benchmarks/gpu_check_prep.sh; writes $OUT/gpu_check.json (or outputs/gpu_check/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# --no-deps: their other requirements (numpy, huggingface_hub, safetensors, regex, PyYAML) come with transformers
for pkg in importlib_metadata zipp diffusers roma antlr4-python3-runtime omegaconf nerfacc; do
    mod=${pkg//-/_}; mod=${mod/antlr4_python3_runtime/antlr4}
    $PY -c "import $mod" 2>/dev/null \
        || $PY -m pip install -q --no-index --no-deps --find-links .cache/gpu_check/wheels "$pkg" 2>&1 | tail -1 || true
done
$PY -c "import diffusers, roma, omegaconf, PIL" || { echo "gpu_check: a requirement is missing (above)"; exit 2; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 480 $PY benchmarks/gpu_check.py --budget 420 "$@"
