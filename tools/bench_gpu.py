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


def _rows() -> dict:
    """name -> (stage, label, settings factory, options): the code before issue 13 (``before``),
    the current defaults (``after``) and variants that try the next gains."""
    from cerebragloss.speed_bench import BEFORE
    from cerebragloss.training import SpeedSettings

    return {
        "s1-before": (1, "before", lambda: BEFORE, {}),
        "s1-after": (1, "after", SpeedSettings, {}),
        "s2-before": (2, "before", lambda: BEFORE, {}),
        "s2-after": (2, "after", SpeedSettings, {}),
        "s2-varlen": (2, "after, varlen attention", lambda: SpeedSettings(vision_attention="varlen"), {}),
        "s2-windowed": (2, "after, windowed_batched attention", lambda: SpeedSettings(vision_attention="windowed_batched"), {}),
        "s2-foreach": (2, "after, foreach AdamW (not fused)", SpeedSettings, {"optimizer": "foreach"}),
        "s2-ckpt-half": (2, "after, checkpoint every 2nd LLM layer", lambda: SpeedSettings(checkpoint_every_n_layers=2), {}),
        "s2-ckpt-none": (2, "after, no checkpointing", SpeedSettings, {"checkpointing": False}),
        "s1-ckpt-none": (1, "after, no checkpointing", SpeedSettings, {"checkpointing": False}),
        "s2-batch8": (2, "after, batch 8", SpeedSettings, {"batch_size": 8}),
        "s2-no-padding": (2, "after, equal lengths (no padding mask)", SpeedSettings, {"words": (100, 101)}),
        "s2-batch8-half-varlen": (2, "after, batch 8, checkpoint every 2nd layer, varlen",
                                  lambda: SpeedSettings(vision_attention="varlen", checkpoint_every_n_layers=2), {"batch_size": 8}),
        "s2-compile": (2, "after, compiled decoder layers", lambda: SpeedSettings(compile=True), {}),
        "s2-compile-half": (2, "after, compiled decoder layers, checkpoint every 2nd layer",
                            lambda: SpeedSettings(compile=True, checkpoint_every_n_layers=2), {}),
    }


ROWS = _rows()
DEFAULT_ROWS = ["s1-before", "s1-after", "s2-before", "s2-after", "s2-varlen"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="qwen2.5-vl-3b")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--before-steps", type=int, default=5, help="timed steps of the slow 'before' rows")
    parser.add_argument("--rows", nargs="*", default=DEFAULT_ROWS, choices=list(ROWS),
                        help="configurations to time, in this order (see ROWS)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--no-proxy", action="store_true", help="skip the CPU proxy table")
    parser.add_argument("--profile", nargs="*", default=[], choices=list(ROWS), help="rows to profile one step of (torch.profiler)")
    args = parser.parse_args(argv)

    import torch

    from cerebragloss.model import PixelRange, build_processor
    from cerebragloss.runtime import use_local_caches
    from cerebragloss.speed_bench import (
        cpu_proxy,
        measure,
        ratios,
        synthetic_batches,
        table,
    )

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
    gpu_rows = []
    batch_sets = {(args.batch_size, (40, 160)): batches}
    for key in args.rows:
        stage, name, settings, options = ROWS[key]
        size, words = options.get("batch_size", args.batch_size), options.get("words", (40, 160))
        if (size, words) not in batch_sets:
            batch_sets[size, words] = synthetic_batches(processor, size, count=4, words=words)
        steps = args.before_steps if name == "before" else args.steps
        try:
            gpu_rows.append(measure(f"stage {stage} {name}", args.preset, stage, settings(), batch_sets[size, words], steps=steps,
                                    warmup=args.warmup, optimizer_kind=options.get("optimizer", "fused"),
                                    gradient_checkpointing=options.get("checkpointing", True), profile=key in args.profile))  # fmt: skip
            print(table(gpu_rows[-1:]), flush=True)
        except Exception as error:  # one failing row (e.g. varlen missing in this torch) must not lose the others
            print(f"stage {stage} {name}: failed: {type(error).__name__}: {str(error)[:300]}", flush=True)
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
