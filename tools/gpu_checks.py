"""The GPU checks of issue 13 as one run (``tools/gpu_checks.sh`` installs the wheels and calls this).

    python tools/gpu_checks.py --out DIR [--skip-bench]

1. ``tools/bench_gpu.py``: stage 1 and 2 of the 3B preset at full page size, before and after.
2. ZeRO-2 and ZeRO-3 smoke runs of the real CLI and configs (``conf/stage2.yaml`` +
   ``conf/deepspeed/zeroN.yaml`` + a generated overlay: 3B preset, 3 optimizer steps of 2
   micro-batches, synthetic shards of full-size pages) with the Hugging Face export, checked to
   hold every parameter at full size.
3. DDP (1 device) on the same batches and initial weights for one accumulated step: its gradient
   norm against ZeRO-2's (equal up to bf16 rounding; DeepSpeed's second division by the
   accumulation would halve it).

Logs and results go under ``DIR``; a summary table ends the output. Exit code 1 if a check failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OVERLAY = """\
global_batch_size: 4  # data.batch_size 2 x 1 device x 2 micro-batches: accumulation exercised
trainer:
  devices: 1
  max_steps: {steps}
  log_every_n_steps: 1
  val_check_interval: null
  limit_val_batches: 0
  num_sanity_val_steps: 0
  enable_checkpointing: false
  default_root_dir: {root}
  accelerator: {accelerator}
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args:
      save_dir: {root}
      flush_logs_every_n_steps: 1  # the run is stopped after its export, before the logger's finalize
  callbacks:{export}
    - class_path: callbacks.TokenThroughput
      init_args:
        window_size: 2
    - class_path: callbacks.GradientNorm
model:
  init_args:
    pretrained: null
    init_from: null
    preset: {preset}
data:
  init_args:
    root: {shards}
    batch_size: 2
    num_workers: 2
    samples_per_epoch: 64
"""


#: After the export, Lightning's teardown moves the model and optimizer state back to the CPU,
#: which takes minutes for a 3B model: once the export is written the run has shown what it must.
EXPORTED = "ExportHuggingFace: wrote"
GRADIENT = "GradientNorm: optimizer step 1 "
TEARDOWN_GRACE_S = 20
KILLED = "done; stopped in teardown"


def run(name: str, command: list[str], log: Path, timeout: int, done: str = EXPORTED) -> dict:
    print(f"\n== {name}: {' '.join(command)}", flush=True)
    start, exported_at, code = time.time(), None, None
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        while code is None:
            time.sleep(1)
            code = process.poll()
            if code is not None:
                break
            if exported_at is None and done in log.read_text(errors="replace"):
                exported_at = time.time()
            if (exported_at and time.time() - exported_at > TEARDOWN_GRACE_S) or time.time() - start > timeout:
                process.kill()
                process.wait()
                code = KILLED if exported_at else "timeout"
    seconds = time.time() - start
    tail = log.read_text(errors="replace").splitlines()[-25:]
    print("\n".join(tail), flush=True)
    return {"name": name, "exit": code, "seconds": round(seconds, 1), "exported_after_s": round(exported_at - start, 1) if exported_at else None}


def export_check(folder: Path) -> str:
    """Parameters in the export's safetensors against the 3B preset's count; empty tensors named."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return "no safetensors written"
    total, empty = 0, []
    for file in files:
        with safe_open(str(file), "pt") as f:
            for key in f.keys():
                shape = f.get_slice(key).get_shape()
                count = 1
                for size in shape:
                    count *= size
                total += count
                if count == 0:
                    empty.append(key)
    size_gb = sum(f.stat().st_size for f in files) / 1e9
    return f"{total / 1e9:.3f} B parameters in {len(files)} file(s), {size_gb:.2f} GB, {len(empty)} empty tensors"


def metrics(root: Path) -> dict:
    found = {}
    for file in root.rglob("metrics.csv"):
        with file.open() as f:
            for row in csv.DictReader(f):
                for key, value in row.items():
                    if value not in ("", None):
                        found.setdefault(key, []).append(float(value))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True, help="logs and results (small files only)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_checks_work"), help="shards, runs and exports (large)")
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument("--bench-only", action="store_true", help="only tools/bench_gpu.py (with --rows)")
    parser.add_argument("--rows", nargs="*", help="rows of tools/bench_gpu.py (default: its own)")
    parser.add_argument("--profile", nargs="*", default=[], help="rows of tools/bench_gpu.py to profile one step of")
    parser.add_argument("--bench-timeout", type=int, default=250)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--preset", default="qwen2.5-vl-3b", help="tiny + --accelerator cpu: a dry run of this script on a CPU")
    parser.add_argument("--accelerator", default="gpu")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    results = []

    if not args.skip_bench:
        bench = [python, "tools/bench_gpu.py", "--json", str(out / "bench.json"), "--steps", "6", "--before-steps", "3", "--warmup", "2",
                 "--no-proxy"]  # fmt: skip
        bench += ["--rows", *args.rows] if args.rows else []
        bench += ["--profile", *args.profile] if args.profile else []
        results.append(run("bench", bench, out / "bench.log", timeout=args.bench_timeout, done="\0never"))
        if args.bench_only:
            print(f"bench: exit {results[-1]['exit']} after {results[-1]['seconds']} s")
            return 0 if results[-1]["exit"] == 0 else 1

    from cerebragloss.runtime import use_local_caches
    from cerebragloss.speed_bench import write_smoke_shards

    use_local_caches()
    work = args.work.resolve()
    shards = work / "smoke_shards"
    write_smoke_shards(shards, samples=32)
    cli = [python, "-m", "cerebragloss.cli", "fit", "--config", "conf/stage2.yaml"]
    for name, extra in (("zero2", ["--config", "conf/deepspeed/zero2.yaml"]), ("zero3", ["--config", "conf/deepspeed/zero3.yaml"]),
                        ("ddp", ["--trainer.strategy=ddp"])):  # fmt: skip
        root = work / name
        root.mkdir(parents=True, exist_ok=True)
        steps = 1 if name == "ddp" else args.steps
        export = "" if name == "ddp" else "\n    - class_path: callbacks.ExportHuggingFace"
        (root / "overlay.yaml").write_text(OVERLAY.format(steps=steps, root=root, shards=shards, preset=args.preset,
                                                          accelerator=args.accelerator, export=export))  # fmt: skip
        result = run(name, [*cli, *extra, "--config", str(root / "overlay.yaml")], out / f"{name}.log", timeout={"zero2": 100, "zero3": 120, "ddp": 80}[name],
                     done=GRADIENT if name == "ddp" else EXPORTED)  # fmt: skip
        logged = metrics(root)
        for file in root.rglob("metrics.csv"):
            (out / f"{name}_metrics.csv").write_text(file.read_text())
        printed = re.findall(r"GradientNorm: optimizer step \d+ grad_norm (\S+)", (out / f"{name}.log").read_text(errors="replace"))
        result["grad_norms"] = [float(x) for x in printed]
        result["losses"] = logged.get("train/loss", [])
        result["tokens_per_s"] = logged.get("train/device/items_per_sec", [])[-1:]
        result["mfu"] = logged.get("train/device/mfu", [])[-1:]
        result["export"] = export_check(root / "hf") if name != "ddp" else "-"
        results.append(result)

    failed = False
    print("\n== summary")
    print("| check | exit | seconds | losses | grad norm (step 1) | tokens/s (last) | MFU (last) | export |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        losses = ", ".join(f"{x:.3f}" for x in r.get("losses", []))
        norms = r.get("grad_norms", [])
        print(f"| {r['name']} | {r['exit']} | {r['seconds']} | {losses} | {norms[0] if norms else '-'} | "
              f"{r.get('tokens_per_s') or '-'} | {r.get('mfu') or '-'} | {r.get('export', '-')} |")  # fmt: skip
        finished = r["exit"] in (0, KILLED)
        failed |= not finished or (r["name"].startswith("zero") and not r.get("export", "").endswith(" 0 empty tensors"))
    by_name = {r["name"]: r for r in results}
    if by_name.get("ddp", {}).get("grad_norms") and by_name.get("zero2", {}).get("grad_norms"):
        ratio = by_name["zero2"]["grad_norms"][0] / by_name["ddp"]["grad_norms"][0]
        ok = 0.9 < ratio < 1.1
        failed |= not ok
        print(f"\ngradient norm of the first accumulated step, ZeRO-2 / DDP = {ratio:.4f} ({'equal within 10 %' if ok else 'DIFFERENT'};"
              " a double division by the 2 micro-batches would give 0.5)")  # fmt: skip
    else:
        print("\ngradient norm comparison: missing numbers (see the logs)")
        failed = True
    (out / "summary.json").write_text(json.dumps(results, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
