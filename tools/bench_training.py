"""Benchmark: the training input pipeline and Lightning's overhead, on the tiny preset on CPU.

    python tools/bench_training.py [--subjects N] [--steps S] [--batch-size B] [--group-buffer-batches G]

Builds shards (simulate, annotate, rule + offline-teacher synthesis) and trains at the full page
size the manifests record (1344 x 756 px = 1296 visual tokens, the pixel range derived from it),
then prints four tables:

1. loader: samples/s the ShardDataModule delivers with 2 workers (decode, processor, grouping,
   collation) against samples/s the tiny model consumes in training steps;
2. host memory: peak resident memory (VmHWM) of each DataLoader worker while it streams, and
   what the grouping buffer would hold as processed pixels (the design before issue 14);
3. step time: the same stage-2 model, batches and optimizer in a Lightning Trainer and in a plain
   PyTorch loop, in alternating rounds (ratio of the medians, target <= 1.05);
4. padding: share of padding tokens over an epoch with batches in arrival order and with length
   grouping (target <= 10 %), from the token counts the stream groups by.
Run by ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cerebragloss.runtime import use_local_caches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per side and round (after 2 warm-up steps)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the plain loop and Lightning")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--group-buffer-batches", type=int, default=16, help="batches' worth of samples sorted together")
    args = parser.parse_args(argv)
    use_local_caches()

    import lightning as L
    import numpy as np
    import torch

    from cerebragloss.batching import group_by_length, planned_length
    from cerebragloss.detection.detector import DEFAULT_WEIGHTS
    from cerebragloss.engine.run import annotate_recordings
    from cerebragloss.model import build_processor
    from cerebragloss.settings import load_settings
    from cerebragloss.shards import iter_shard_set
    from cerebragloss.signals.simulate import simulate_recordings
    from cerebragloss.streaming import ShardSource, rank_batch_sizes
    from cerebragloss.synthesis.run import (
        AugmentSettings,
        SynthesisSettings,
        augment_with_teacher,
        synthesize_rules,
    )
    from datamodules import ShardDataModule
    from lit_modules import VLMModule

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        recordings = simulate_recordings(scratch / "recordings", args.subjects, 1.0, seed=3)
        annotate_recordings(recordings, scratch / "annotations", detector_weights=DEFAULT_WEIGHTS, progress=False)
        no_split = ["split.val=0", "split.bench=0"]
        synthesize_rules(scratch / "annotations", scratch / "shards" / "rules", load_settings(SynthesisSettings, overrides=[*no_split, "samples_per_shard=20"]), progress=False)
        augment_with_teacher(scratch / "annotations", scratch / "shards" / "teacher", load_settings(AugmentSettings, overrides=[*no_split, "samples_per_shard=8"]), progress=False)
        sources = [ShardSource("rules/train"), ShardSource("teacher/train")]

        # 1. the loader with 2 workers, at the page size the manifests record
        data = ShardDataModule(root=str(scratch / "shards"), train=sources, batch_size=args.batch_size, num_workers=2,
                               samples_per_epoch=args.batch_size * (args.steps + 10), max_length=4096,
                               group_buffer_batches=args.group_buffer_batches)  # fmt: skip
        pixels = data.pixels
        loader = data.train_dataloader()
        batches, started, first = [], time.perf_counter(), None
        peak_rss: dict[int, int] = {}
        iterator = iter(loader)
        for batch in iterator:
            batches.append(batch)
            for number, process in enumerate(iterator._workers):
                peak_rss[number] = max(peak_rss.get(number, 0), _peak_rss_kib(process.pid))
            if first is None:
                first = time.perf_counter()  # worker start-up (processor build) excluded
        loader_rate = (len(batches) - 1) * args.batch_size / (time.perf_counter() - first)
        startup = first - started
        pixel_bytes = max(b["pixel_values"].element_size() * b["pixel_values"].shape[1] * int(g.prod())
                          for b in batches for g in b["image_grid_thw"])  # fmt: skip
        buffer_samples = args.batch_size * args.group_buffer_batches
        png_bytes = max(len(png) for folder in ("rules", "teacher") for _, png in iter_shard_set(scratch / "shards" / folder / "train"))

        # 2. Lightning against a plain loop, same model, batches and optimizer. The two sides run
        # in alternating rounds (fresh model each round), so drifts of a shared 2-core machine
        # (allocator, caches, other processes) hit both; the first 2 steps of a round are warm-up.
        timed = batches[: args.steps + 2]
        from transformers import get_cosine_schedule_with_warmup

        class StepTimer(L.Callback):
            def __init__(self):
                self.times = []

            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                self._start = time.perf_counter()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                self.times.append(time.perf_counter() - self._start)

        def lightning_round() -> list[float]:
            torch.manual_seed(0)
            timer = StepTimer()
            trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=len(timed), logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False, callbacks=[timer], num_sanity_val_steps=0)  # fmt: skip
            module = VLMModule(stage=2, preset="tiny", pixels=pixels, lr=1e-4)
            trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(timed, batch_size=None, collate_fn=lambda b: b))
            return timer.times[2:]

        def plain_round() -> list[float]:
            torch.manual_seed(0)
            plain = VLMModule(stage=2, preset="tiny", pixels=pixels, lr=1e-4)
            plain.configure_model()
            model = plain.model
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            scheduler = get_cosine_schedule_with_warmup(optimizer, 0, len(timed))
            model.train()
            times = []
            for batch in timed:
                started = time.perf_counter()
                loss = plain(batch)  # the module's forward as a plain nn.Module call: the same computation, no Trainer
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                times.append(time.perf_counter() - started)
            return times[2:]

        lightning_times, plain_times, round_ratios = [], [], []
        for _ in range(args.rounds):
            plain_part, lightning_part = plain_round(), lightning_round()
            plain_times += plain_part
            lightning_times += lightning_part
            round_ratios.append(statistics.median(lightning_part) / statistics.median(plain_part))
        lightning_step, plain_step = statistics.median(lightning_times), statistics.median(plain_times)
        consumed = args.batch_size / plain_step

        # 4. padding over an epoch, from the token counts the stream groups by (exact: tested
        # against the processor's output), with the plan's batch sizes
        processor = build_processor(pixels)
        samples = [(sample, png) for folder in ("rules", "teacher") for sample, png in iter_shard_set(scratch / "shards" / folder / "train")]
        import random

        random.Random(0).shuffle(samples)
        lengths = [planned_length(sample, png, processor)[0] for sample, png in samples]
        sizes = rank_batch_sizes(len(lengths), 1, args.batch_size)[0]

        def padding(buffer_batches: int) -> float:
            real = total = 0
            for group, _ in group_by_length(lengths, sizes, buffer_batches, np.random.default_rng(0), lambda n: n):
                real += sum(group)
                total += max(group) * len(group)
            return 1 - real / total

        plain_padding, grouped_padding = padding(1), padding(args.group_buffer_batches)
        mean_tokens = statistics.mean(lengths)

    print(f"tiny Qwen2.5-VL (9.9 M parameters), stage 2, batch {args.batch_size}, pages at up to {pixels.max_pixels // 784} visual tokens "
          f"(pixel range {pixels.min_pixels}-{pixels.max_pixels} from the manifests' page), {len(lengths)} samples of {mean_tokens:.0f} "
          f"tokens on average, 2 CPU cores\n")  # fmt: skip
    print("| loader (2 workers) | samples/s |")
    print("|---|---|")
    print(f"| ShardDataModule delivers | {loader_rate:.1f} |")
    print(f"| the model consumes (train steps) | {consumed:.1f} |")
    print(f"| ratio delivered / consumed | {loader_rate / consumed:.2f}x |")
    print(f"\n(worker start-up before the first batch: {startup:.1f} s)\n")
    print("| host memory per DataLoader worker | |")
    print("|---|---|")
    for number, kib in sorted(peak_rss.items()):
        print(f"| worker {number}: peak resident memory (VmHWM) | {kib / 1024:.0f} MiB |")
    print(f"| grouping + shuffle buffers hold (PNG + JSON) | {buffer_samples} + {data.settings.shuffle_buffer} samples, "
          f"<= {(buffer_samples + data.settings.shuffle_buffer) * png_bytes / 2**20:.1f} MiB of PNG |")
    print(f"| the same grouping buffer as processed fp32 pixels (before issue 14) | {buffer_samples * pixel_bytes / 2**20:.0f} MiB "
          f"({pixel_bytes / 2**20:.1f} MiB per page, computed) |")
    print()
    print("| training step | median ms | ratio |")
    print("|---|---|---|")
    print(f"| plain PyTorch loop | {plain_step * 1000:.0f} | 1.00 |")
    print(f"| Lightning Trainer | {lightning_step * 1000:.0f} | {lightning_step / plain_step:.3f} |")
    print(f"\n({args.rounds} alternating rounds x {args.steps} steps per side; ratio per round: "
          + ", ".join(f"{r:.3f}" for r in round_ratios) + ")")
    print("\n| batching | padding tokens |")
    print("|---|---|")
    print(f"| in arrival order | {plain_padding:.1%} |")
    print(f"| length-grouped ({args.group_buffer_batches} batches sorted together) | {grouped_padding:.1%} |")
    return 0


def _peak_rss_kib(pid: int) -> int:
    """Peak resident set size of a process (Linux ``/proc``), in KiB; 0 where unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
