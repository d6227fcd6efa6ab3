"""LightningDataModule over CerebraGloss shard sets (the streaming and batching live in
``cerebragloss.streaming`` and ``cerebragloss.batching``; this class wires them to Lightning)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import lightning as L
import torch

from cerebragloss.model import PixelRange
from cerebragloss.streaming import (
    BatchStream,
    ShardSource,
    StreamSettings,
    default_processor_factory,
    epoch_samples,
)


def _rooted(source: ShardSource, root: str) -> ShardSource:
    return replace(source, path=str(Path(root) / source.path))


class ShardDataModule(L.LightningDataModule):
    """Stream and mix shard sets into batches for the VLM.

    Args:
        root: folder the sources' relative paths are read from (an overlay can move all of them).
        train: sources mixed for training (per-source ``samples`` or ``weight``; see ShardSource).
        val: sources for validation (each sample once, in order).
        test: sources for ``cerebragloss test``.
        processor: checkpoint directory whose processor to use; empty = the offline one.
        pixels: pixel range of pages; must equal the model's (the CLI links them).
        batch_size: samples per device per step.
        num_workers: DataLoader workers per device.
        max_length: longer samples are dropped (and counted), never truncated.
        shuffle_buffer: samples in the shuffle buffer of each source.
        resample: draw shards with replacement (an endless stream cut into epochs).
        length_grouping: batch samples of similar length together to cut padding.
        group_buffer_batches: how many batches' worth of samples are sorted together.
        seed: seed of shuffling and grouping (epoch and worker are added).
        samples_per_epoch: epoch length in samples instead of the sum of the training sources'
            (mixing keeps their proportions); for short runs on small data.
        generate: test and predict batches hold prompts and references for generation (the
            benchmark); otherwise they hold full samples for the loss.
    """

    def __init__(
        self,
        root: str = ".",
        train: list[ShardSource] | None = None,
        val: list[ShardSource] | None = None,
        test: list[ShardSource] | None = None,
        processor: str | None = None,
        pixels: PixelRange | None = None,
        batch_size: int = 2,
        num_workers: int = 2,
        max_length: int = 2048,
        shuffle_buffer: int = 256,
        resample: bool = False,
        length_grouping: bool = True,
        group_buffer_batches: int = 16,
        seed: int = 0,
        samples_per_epoch: int | None = None,
        generate: bool = False,
    ):
        super().__init__()
        self.root = root
        self.sources = {split: [_rooted(s, root) for s in sources or []] for split, sources in (("train", train), ("val", val), ("test", test))}
        self.samples_per_epoch = samples_per_epoch
        self.pixels = pixels or PixelRange()
        self.processor_source = processor
        self.num_workers = num_workers
        self.settings = StreamSettings(batch_size=batch_size, max_length=max_length, shuffle_buffer=shuffle_buffer, resample=resample,
                                       length_grouping=length_grouping, group_buffer_batches=group_buffer_batches, seed=seed)  # fmt: skip
        self.generate = generate
        self.streams: dict[str, BatchStream] = {}

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    def epoch_samples(self, split: str = "train") -> int:
        """Samples per epoch of a split, from the manifests (the stop-at-fraction callback uses it)."""
        if split == "train" and self.samples_per_epoch:
            return self.samples_per_epoch
        return epoch_samples(self.sources[split])

    def _stream(self, split: str) -> BatchStream:
        if not self.sources[split]:
            raise ValueError(f"no data.{split} sources configured")
        if split not in self.streams:
            world = self.trainer.world_size if self.trainer is not None else 1
            workers = self._workers(split)
            settings = replace(self.settings, generate=self.generate and split == "test")
            self.streams[split] = BatchStream(self.sources[split], default_processor_factory(self.processor_source, self.pixels),
                                              settings, train=split == "train", num_workers=workers, world_size=world,
                                              samples=self.epoch_samples(split))  # fmt: skip
        return self.streams[split]

    def _workers(self, split: str) -> int:
        if split == "train":
            return self.num_workers
        # Evaluation reads each shard once: more workers than shards would idle.
        from cerebragloss.shards import shard_urls

        return min(self.num_workers, min(len(shard_urls(s.path)) for s in self.sources[split]))

    def _loader(self, split: str) -> torch.utils.data.DataLoader:
        stream = self._stream(split)
        if self.trainer is not None:
            stream.set_epoch(self.trainer.current_epoch)
        workers = self._workers(split)
        return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers, persistent_workers=False,
                                           prefetch_factor=2 if workers else None)  # fmt: skip

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val") if self.sources["val"] else []

    def test_dataloader(self):
        return self._loader("test")

    def predict_dataloader(self):
        return self._loader("test")

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
