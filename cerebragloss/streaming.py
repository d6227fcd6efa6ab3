"""Streams of training batches from shard sets: mixing, shuffling, splitting, encoding, batching.

A run names its data as ``ShardSource``s (a shard-set folder, optionally a task filter, and how
many samples or what weight per epoch). Epoch length and mixing probabilities come from the
manifests, never from scanning tars (``epoch_samples``, ``mix_probabilities``).
``BatchStream`` is the torch ``IterableDataset``: each DataLoader worker builds, for its share,
webdataset pipelines per source (shard shuffle, split by node and worker, sample shuffle buffer,
optional resampling), mixes them with ``webdataset.RandomMix``, encodes samples with the
processor (``batching.encode_sample``), groups them by length and collates. Corrupt samples and
over-long ones are skipped and counted (each batch says how many since the previous one), with
a rate-limited warning, never silently.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch

from cerebragloss.batching import (
    collate,
    collate_prompts,
    encode_prompt,
    encode_sample,
    length_grouped,
    load_image,
)
from cerebragloss.model import PixelRange
from cerebragloss.shards import read_manifest, shard_urls

log = logging.getLogger(__name__)


@dataclass
class ShardSource:
    """One shard set in a mix.

    Args:
        path: shard-set folder (with ``manifest.json``).
        tasks: keep only these tasks (e.g. ``[caption]``); all when empty.
        samples: samples drawn from this source per epoch (default: all its matching samples).
        weight: relative share when mixing by weight; ignored when any source gives ``samples``.
    """

    path: str
    tasks: list[str] | None = None
    samples: int | None = None
    weight: float | None = None


def available_samples(source: ShardSource) -> int:
    """Samples of the source's tasks in its shard set, from the manifest."""
    manifest = read_manifest(source.path)
    if not source.tasks:
        return int(manifest["samples"])
    unknown = [t for t in source.tasks if t not in manifest["tasks"]]
    if len(unknown) == len(source.tasks):
        raise ValueError(f"{source.path}: none of tasks {source.tasks} in this shard set (it has {sorted(manifest['tasks'])})")
    return sum(int(manifest["tasks"].get(t, 0)) for t in source.tasks)


def epoch_samples(sources: list[ShardSource]) -> int:
    """Samples per epoch: the sum of each source's ``samples`` (or everything it has)."""
    return sum(s.samples if s.samples is not None else available_samples(s) for s in sources)


def mix_probabilities(sources: list[ShardSource]) -> list[float]:
    """Chance that the next sample comes from each source: per-source sample counts when given,
    else weights, else proportional to what each source holds."""
    if any(s.samples is not None for s in sources):
        shares = [float(s.samples if s.samples is not None else available_samples(s)) for s in sources]
    elif any(s.weight is not None for s in sources):
        shares = [float(s.weight if s.weight is not None else 1.0) for s in sources]
    else:
        shares = [float(available_samples(s)) for s in sources]
    total = sum(shares)
    if total <= 0:
        raise ValueError("the sources hold no samples")
    return [share / total for share in shares]


class SkipCounter:
    """A webdataset handler (and a counter for over-long samples): counts what it skips and warns
    at most once per ``every_s`` seconds, naming the last problem."""

    def __init__(self, every_s: float = 30.0):
        self.corrupt = 0
        self.too_long = 0
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, error: Exception) -> bool:
        self.corrupt += 1
        self._warn(f"skipped a corrupt sample ({type(error).__name__}: {str(error)[:200]})")
        return True  # continue

    def long(self, sample_id: str, limit: int) -> None:
        self.too_long += 1
        self._warn(f"dropped {sample_id}: longer than max_length={limit} tokens")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            log.warning("%s (so far in this worker: %d corrupt, %d too long)", message, self.corrupt, self.too_long)

    @property
    def total(self) -> int:
        return self.corrupt + self.too_long


def _decode(entry: dict) -> tuple[dict, bytes]:
    import json

    return json.loads(entry["json"]), entry["png"]


@dataclass
class StreamSettings:
    batch_size: int = 2
    max_length: int = 2048
    shuffle_buffer: int = 256
    #: draw shards with replacement (infinite streams; needed when shards < workers x ranks)
    resample: bool = False
    length_grouping: bool = True
    group_buffer_batches: int = 16
    seed: int = 0
    #: evaluation batches hold prompts (without the last answer) for generation, plus references
    generate: bool = False


class BatchStream(torch.utils.data.IterableDataset):
    """Collated batches from mixed sources (see the module docstring). ``train=False``: no
    shuffling, no resampling, each sample once, in order; ``batches_per_rank`` then is an upper
    bound Lightning uses for progress only."""

    def __init__(self, sources: list[ShardSource], processor_factory, settings: StreamSettings, *, train: bool,
                 num_workers: int, world_size: int = 1, samples: int | None = None):  # fmt: skip
        super().__init__()
        if not sources:
            raise ValueError("no shard sources given")
        self.sources, self.settings, self.train = sources, settings, train
        self.processor_factory = processor_factory
        self.num_workers, self.world_size = max(1, num_workers), max(1, world_size)
        self.samples = samples or epoch_samples(sources)
        self.probabilities = mix_probabilities(sources)
        self.batches_per_rank = math.ceil(self.samples / (settings.batch_size * self.world_size))
        self.epoch = 0
        if train and not settings.resample:
            problems = [
                f"{s.path}: {len(shard_urls(s.path))} shards < {self.num_workers} workers x {self.world_size} ranks"
                for s in sources if len(shard_urls(s.path)) < self.num_workers * self.world_size
            ]  # fmt: skip
            if problems:
                raise ValueError("every worker of every rank needs its own shards: " + "; ".join(problems)
                                 + ". Write more, smaller shards (samples_per_shard), use fewer data.num_workers, or set data.resample=true.")  # fmt: skip

    def __len__(self) -> int:
        return self.batches_per_rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _pipeline(self, source: ShardSource, handler: SkipCounter, seed: int):
        import webdataset as wds

        urls = shard_urls(source.path)
        resample = self.train and self.settings.resample
        dataset = wds.WebDataset(
            urls, handler=handler, resampled=resample, shardshuffle=len(urls) if self.train and not resample else False,
            nodesplitter=None if resample else wds.split_by_node, workersplitter=None if resample else wds.split_by_worker,
            empty_check=False, seed=seed,
        )  # fmt: skip
        if self.train and self.settings.shuffle_buffer > 1:
            dataset = dataset.shuffle(self.settings.shuffle_buffer, seed=seed)
        dataset = dataset.map(_decode, handler=handler)
        if source.tasks:
            tasks = set(source.tasks)
            dataset = dataset.select(lambda pair: pair[0]["task"] in tasks)
        return dataset

    def _encoded(self, stream, processor, counter: SkipCounter):
        for sample, png in stream:
            try:
                encode = encode_prompt if self.settings.generate and not self.train else encode_sample
                item = encode(sample, load_image(png), processor, self.settings.max_length)
            except Exception as error:  # noqa: BLE001 - a bad page or text is counted and skipped
                counter(error)
                continue
            if item is None:
                counter.long(sample["id"], self.settings.max_length)
                continue
            if not self.train:
                item["png"] = png  # evaluation keeps the page, to log or draw it next to the text
            yield item

    def __iter__(self):
        import webdataset as wds

        info = torch.utils.data.get_worker_info()
        worker = info.id if info else 0
        workers = info.num_workers if info else 1
        seed = self.settings.seed + 1000 * self.epoch + worker
        counter = SkipCounter()
        processor = self.processor_factory()
        streams = [self._pipeline(source, counter, seed) for source in self.sources]
        if len(streams) == 1:
            mixed = streams[0]
        else:
            mixed = wds.RandomMix(streams, self.probabilities, longest=not self.train)
        buffer_batches = self.settings.group_buffer_batches if self.settings.length_grouping else 1
        batches = length_grouped(self._encoded(mixed, processor, counter), self.settings.batch_size, buffer_batches, seed)
        limit = math.ceil(self.batches_per_rank / workers) if self.train else None
        pad_id = processor.tokenizer.pad_token_id
        reported = 0
        for count, items in enumerate(batches):
            if limit is not None and count >= limit:
                break
            batch = collate_prompts(items, pad_id) if self.settings.generate and not self.train else collate(items, pad_id)
            batch["skipped"] = counter.total - reported
            reported = counter.total
            yield batch


def default_processor_factory(pretrained: str | None, pixels: PixelRange):
    """A picklable factory (DataLoader workers build their own processor)."""
    return _ProcessorFactory(pretrained, pixels)


class _ProcessorFactory:
    def __init__(self, pretrained: str | None, pixels: PixelRange):
        self.pretrained, self.pixels = pretrained, pixels

    def __call__(self):
        from cerebragloss.model import load_processor

        return load_processor(self.pretrained, self.pixels)
