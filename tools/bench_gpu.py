"""Training speed on a GPU, before and after issue 13's changes, in one table.

    python tools/bench_gpu.py [--preset qwen2.5-vl-3b] [--batch-size 4] [--steps 10] [--warmup 3] [--json FILE]

First the CPU-visible proxy (tiny preset, one step of each stage: attention calls, autograd nodes,
vision outputs that require grad), then, where CUDA is available, each stage on the preset at full
page size (1344 x 756 = 1296 visual tokens), the code before the change (``before``: per-window
attention, vision tower backpropagated, frozen parts in fp32, full logits) next to it. MFU formula
and batch construction: ``cerebragloss.speed_bench``. Exit code 2 when no GPU is visible (the
proxy is still printed).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="qwen2.5-vl-3b")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--before-steps", type=int, default=5, help="timed steps of the slow 'before' rows")
    parser.add_argument("--extra", nargs="*", default=["varlen"], choices=["varlen", "compile"],
                        help="extra stage-2 rows: varlen attention, torch.compile of the decoder layers")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--no-proxy", action="store_true", help="skip the CPU proxy table")
    args = parser.parse_args(argv)

    import torch

    from cerebragloss.model import PixelRange, build_processor
    from cerebragloss.runtime import use_local_caches
    from cerebragloss.speed_bench import (
        BEFORE,
        cpu_proxy,
        measure,
        ratios,
        synthetic_batches,
        table,
    )
    from cerebragloss.training import SpeedSettings  # noqa: F401 - used by the configs below

    use_local_caches()
    page = PixelRange(min_pixels=1344 * 756, max_pixels=1344 * 756)  # the full page, not resized
    processor = build_processor(page)
    batches = synthetic_batches(processor, args.batch_size, count=4)
    tokens = [int(b["attention_mask"].sum()) / len(b["input_ids"]) for b in batches]
    print(f"batches: {args.batch_size} pages of 1344 x 756 ({int(batches[0]['image_grid_thw'][0].prod()) // 4} visual tokens), "
          f"{min(tokens):.0f}-{max(tokens):.0f} tokens per sample")  # fmt: skip

    rows = [] if args.no_proxy else cpu_proxy()
    if rows:
        print("\nCPU proxy (tiny preset, small pages, batch 2, one step, gradient checkpointing on; time and MFU mean nothing here):")
        print(table(rows))

    if not torch.cuda.is_available():
        print("\nno CUDA GPU visible: the timing table needs one (run this on a GPU machine)")
        _write(args.json, rows)
        return 2
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}; {args.preset}, batch {args.batch_size}, bf16 autocast, "
          f"gradient checkpointing, {args.warmup} warm-up + {args.steps} timed steps ({args.before_steps} for 'before')")  # fmt: skip
    # (stage, name, settings): built inside the loop, so that an unavailable choice fails its row only
    configs = [(1, "before", lambda: BEFORE), (1, "after", SpeedSettings), (2, "before", lambda: BEFORE), (2, "after", SpeedSettings)]
    if "varlen" in args.extra:
        configs.append((2, "after, varlen attention", lambda: SpeedSettings(vision_attention="varlen")))
    if "compile" in args.extra:
        configs.append((2, "after, compiled decoder layers", lambda: SpeedSettings(compile=True)))
    gpu_rows = []
    for stage, name, settings in configs:
        steps = args.before_steps if name == "before" else args.steps
        try:
            gpu_rows.append(measure(f"stage {stage} {name}", args.preset, stage, settings(), batches, steps=steps, warmup=args.warmup))
            print(table(gpu_rows[-1:]), flush=True)
        except Exception as error:  # one failing row (e.g. varlen missing in this torch) must not lose the others
            print(f"stage {stage} {name}: failed: {type(error).__name__}: {error}", flush=True)
            del error
            gc.collect()
            torch.cuda.empty_cache()
    print("\n" + table(gpu_rows))
    print(ratios(gpu_rows))
    _write(args.json, rows + gpu_rows)
    return 0


def _write(path: Path | None, rows) -> None:
    if path:
        from cerebragloss.speed_bench import as_dicts

        path.write_text(json.dumps(as_dicts(rows), indent=1))


if __name__ == "__main__":
    sys.exit(main())
