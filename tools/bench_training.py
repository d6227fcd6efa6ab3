"""Benchmark: the training input pipeline and Lightning's overhead, on the tiny preset on CPU.

    python tools/bench_training.py [--subjects N] [--steps S] [--batch-size B]

Builds shards (simulate, annotate, rule + offline-teacher synthesis), then prints three tables:

1. loader: samples/s the ShardDataModule delivers with 2 workers (decode, processor, grouping,
   collation) against samples/s the tiny model consumes in training steps;
2. step time: the same stage-2 model, batches and optimizer in a Lightning Trainer and in a plain
   PyTorch loop, in alternating rounds (ratio of the medians, target <= 1.05);
3. padding: share of padding tokens with plain batching and with length grouping (target <= 10 %).
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
    args = parser.parse_args(argv)
    use_local_caches()

    import lightning as L
    import torch

    from cerebragloss.batching import collate, encode_sample, length_grouped, load_image
    from cerebragloss.detection.detector import DEFAULT_WEIGHTS
    from cerebragloss.engine.run import annotate_recordings
    from cerebragloss.model import PixelRange, build_processor
    from cerebragloss.settings import load_settings
    from cerebragloss.shards import iter_shard_set
    from cerebragloss.signals.simulate import simulate_recordings
    from cerebragloss.streaming import ShardSource
    from cerebragloss.synthesis.run import (
        AugmentSettings,
        SynthesisSettings,
        augment_with_teacher,
        synthesize_rules,
    )
    from datamodules import ShardDataModule
    from lit_modules import VLMModule

    pixels = PixelRange(min_pixels=64 * 784, max_pixels=256 * 784)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        recordings = simulate_recordings(scratch / "recordings", args.subjects, 1.0, seed=3)
        annotate_recordings(recordings, scratch / "annotations", detector_weights=DEFAULT_WEIGHTS, progress=False)
        no_split = ["split.val=0", "split.bench=0"]
        synthesize_rules(scratch / "annotations", scratch / "shards" / "rules", load_settings(SynthesisSettings, overrides=[*no_split, "samples_per_shard=20"]), progress=False)
        augment_with_teacher(scratch / "annotations", scratch / "shards" / "teacher", load_settings(AugmentSettings, overrides=[*no_split, "samples_per_shard=8"]), progress=False)
        sources = [ShardSource("rules/train"), ShardSource("teacher/train")]

        # 1. the loader with 2 workers
        data = ShardDataModule(root=str(scratch / "shards"), train=sources, batch_size=args.batch_size, num_workers=2, resample=True,
                               pixels=pixels, samples_per_epoch=args.batch_size * (args.steps + 10), max_length=2048)  # fmt: skip
        loader = data.train_dataloader()
        batches, started, first = [], time.perf_counter(), None
        for batch in loader:
            batches.append(batch)
            if first is None:
                first = time.perf_counter()  # worker start-up (processor build) excluded
        loader_rate = (len(batches) - 1) * args.batch_size / (time.perf_counter() - first)
        startup = first - started

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
                inputs = {k: v for k, v in batch.items() if k not in ("ids", "skipped", "pngs")}
                loss = model(**inputs).loss
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

        # 3. padding with and without length grouping, over the same encoded samples
        processor = build_processor(pixels)
        items = []
        for folder in ("rules", "teacher"):
            for sample, png in iter_shard_set(scratch / "shards" / folder / "train"):
                items.append(encode_sample(sample, load_image(png), processor, 4096))
        import random

        random.Random(0).shuffle(items)
        pad_id = processor.tokenizer.pad_token_id

        def padding(buffer_batches: int) -> float:
            real = total = 0
            for group in length_grouped(items, args.batch_size, buffer_batches, seed=0):
                batch = collate(group, pad_id)
                total += batch["attention_mask"].numel()
                real += int(batch["attention_mask"].sum())
            return 1 - real / total

        plain_padding, grouped_padding = padding(1), padding(16)
        mean_tokens = statistics.mean(len(i["input_ids"]) for i in items)

    print(f"tiny Qwen2.5-VL (9.9 M parameters), stage 2, batch {args.batch_size}, pages at up to {pixels.max_pixels // 784} visual tokens, "
          f"{len(items)} samples of {mean_tokens:.0f} tokens on average, 2 CPU cores\n")  # fmt: skip
    print("| loader (2 workers) | samples/s |")
    print("|---|---|")
    print(f"| ShardDataModule delivers | {loader_rate:.1f} |")
    print(f"| the model consumes (train steps) | {consumed:.1f} |")
    print(f"| ratio delivered / consumed | {loader_rate / consumed:.2f}x |")
    print(f"\n(worker start-up before the first batch: {startup:.1f} s)\n")
    print("| training step | median ms | ratio |")
    print("|---|---|---|")
    print(f"| plain PyTorch loop | {plain_step * 1000:.0f} | 1.00 |")
    print(f"| Lightning Trainer | {lightning_step * 1000:.0f} | {lightning_step / plain_step:.3f} |")
    print(f"\n({args.rounds} alternating rounds x {args.steps} steps per side; ratio per round: "
          + ", ".join(f"{r:.3f}" for r in round_ratios) + ")")
    print("\n| batching | padding tokens |")
    print("|---|---|")
    print(f"| in arrival order | {plain_padding:.1%} |")
    print(f"| length-grouped (16 batches sorted together) | {grouped_padding:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
