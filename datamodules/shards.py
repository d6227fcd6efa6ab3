"""LightningDataModule over CerebraGloss shard sets (the streaming and batching live in
``cerebragloss.streaming`` and ``cerebragloss.batching``; this class wires them to Lightning:
rank, epoch, and the resume point through Lightning's stateful-loader hooks)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch

from cerebragloss.model import PixelRange
from cerebragloss.settings import (
    PageMismatchError,
    common_page,
    model_page,
    page_differences,
    page_pixels,
)
from cerebragloss.streaming import (
    BatchStream,
    ShardSource,
    StreamSettings,
    default_processor_factory,
    epoch_samples,
)


class ResumableLoader(torch.utils.data.DataLoader):
    """The training loader: tells the stream its epoch and resume point every time an epoch
    starts (Lightning's ``set_epoch`` reaches samplers only, and a stream has none). Its
    ``state_dict``/``load_state_dict`` make it a stateful loader for Lightning (which then
    does not warn that a mid-epoch resume replays the epoch); the resume point itself travels in
    the DataModule's state, which Lightning restores before anything builds a loader (a loader's
    own state is restored only if no hook asked for the loader earlier, e.g.
    ``trainer.estimated_stepping_batches`` in ``configure_optimizers``)."""

    def __init__(self, stream: BatchStream, datamodule: ShardDataModule, **options):
        super().__init__(stream, **options)
        self.datamodule = datamodule

    def __iter__(self):
        trainer = self.datamodule.trainer
        if trainer is not None:
            self.dataset.set_epoch(trainer.current_epoch)  # before the workers copy the stream
        if self.datamodule.resume_point is not None:
            self.dataset.resume(*self.datamodule.resume_point)
        return super().__iter__()

    def state_dict(self) -> dict:
        return self.datamodule.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.datamodule.load_state_dict(state)


def _manifest_page(path: str) -> dict | None:
    from cerebragloss.shards import read_manifest

    try:
        return read_manifest(path).get("page")
    except FileNotFoundError:
        return None  # reported when the stream is built


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
        pixels: pixel range of pages; empty = from the page the manifests record (the full page,
            no downscaling); must equal the model's (the CLI links them).
        batch_size: samples per device per step.
        num_workers: DataLoader workers per device.
        max_length: longer samples are dropped (and counted), never truncated.
        shuffle_buffer: samples (PNG + JSON) in each worker's shuffle buffer.
        interleave_shards: shard ranges a training worker reads at once, their samples mixed
            before the shuffle buffer (1: one shard after another).
        length_grouping: batch samples of similar length together to cut padding.
        group_buffer_batches: how many batches' worth of samples are sorted together.
        length_bucket: lengths within this many tokens sort as equal (an exact sort batches
            answers of one template together).
        seed: seed of the epoch plan, shuffling and grouping (epoch, rank and worker are added).
        samples_per_epoch: epoch length in samples instead of the sum of the training sources'
            (each source's quota keeps its proportion; above what a source holds it is read in
            several passes); for short runs on small data.
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
        interleave_shards: int = 8,
        length_grouping: bool = True,
        group_buffer_batches: int = 16,
        length_bucket: int = 16,
        seed: int = 0,
        samples_per_epoch: int | None = None,
        generate: bool = False,
    ):
        super().__init__()
        self.root = root
        self.sources = {split: [_rooted(s, root) for s in sources or []] for split, sources in (("train", train), ("val", val), ("test", test))}
        self.samples_per_epoch = samples_per_epoch
        # One page for all sources (manifests record it); shard sets that disagree are refused.
        self.page = common_page({f"{split}: {s.path}": _manifest_page(s.path) for split, sources in self.sources.items() for s in sources})
        self.pixels = pixels or page_pixels(self.page)
        self.processor_source = processor
        self.num_workers = num_workers
        self.settings = StreamSettings(batch_size=batch_size, max_length=max_length, shuffle_buffer=shuffle_buffer,
                                       interleave_shards=interleave_shards, length_grouping=length_grouping, group_buffer_batches=group_buffer_batches,
                                       length_bucket=length_bucket, seed=seed)  # fmt: skip
        self.generate = generate
        self.streams: dict[str, BatchStream] = {}
        self.resume_point: tuple[int, int] | None = None  # (epoch, batches trained in it), from a checkpoint

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    def setup(self, stage: str) -> None:
        # A model that was trained before (stage 2 from stage 1's export, or test) must see the
        # page it was trained on.
        module = self.trainer.lightning_module if self.trainer is not None else None
        hparams = getattr(module, "hparams", {}) or {}
        for key in ("init_from", "pretrained"):
            earlier = model_page(hparams.get(key))
            if earlier is not None and self.page is not None:
                differences = page_differences(earlier, self.page)
                if differences:
                    raise PageMismatchError(f"model.{key}={hparams.get(key)} was trained on other pages than these data: "
                                            + "; ".join(differences))  # fmt: skip
                break

    def state_dict(self) -> dict:
        """The resume point (in every checkpoint): the epoch and the batches this rank has
        trained on in it. Checkpoints are saved from ``on_train_batch_end``, where the current
        batch already counts as processed. A resumed run continues after them; batches trained
        after the last checkpoint (which the restored model never saw) are trained again."""
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":  # also inside fit's validation (checkpoints saved there)
            return {}
        return {"train_epoch": trainer.current_epoch, "train_batches": trainer.fit_loop.epoch_loop.batch_progress.current.processed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("train_batches") is not None:
            self.resume_point = (int(state["train_epoch"]), int(state["train_batches"]))

    def epoch_samples(self, split: str = "train") -> int:
        """Samples per epoch of a split, from the manifests (the stop-at-fraction callback uses it)."""
        if split == "train" and self.samples_per_epoch:
            return self.samples_per_epoch
        return epoch_samples(self.sources[split])

    def _stream(self, split: str) -> BatchStream:
        if not self.sources[split]:
            raise ValueError(f"no data.{split} sources configured")
        if split not in self.streams:
            trainer = self.trainer
            world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
            settings = replace(self.settings, generate=self.generate and split == "test")
            try:
                self.streams[split] = BatchStream(self.sources[split], default_processor_factory(self.processor_source, self.pixels),
                                                  settings, train=split == "train", num_workers=self._workers(split, world),
                                                  world_size=world, rank=rank, samples=self.epoch_samples(split))  # fmt: skip
            except ValueError as error:
                raise ValueError(f"data.{split}: {error}") from None
        return self.streams[split]

    def _workers(self, split: str, world: int) -> int:
        if split == "train":
            return self.num_workers
        # Evaluation: no more workers than a rank has batches (more would idle).
        batches = math.ceil(math.ceil(self.epoch_samples(split) / world) / self.settings.batch_size)
        return min(self.num_workers, batches)

    def _loader(self, split: str) -> torch.utils.data.DataLoader:
        stream = self._stream(split)
        workers = 0 if self.num_workers == 0 else stream.num_workers
        options = {"batch_size": None, "num_workers": workers, "persistent_workers": False, "prefetch_factor": 2 if workers else None}
        if split == "train":
            return ResumableLoader(stream, self, **options)
        return torch.utils.data.DataLoader(stream, **options)

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
