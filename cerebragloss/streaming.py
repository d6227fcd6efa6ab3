"""Streams of training batches from shard sets: exact epochs, mixing, resuming, encoding, batching.

A run names its data as ``ShardSource``s (a shard-set folder, optionally a task filter, and how
many samples or what weight per epoch). Epoch length, per-source quotas and mixing come from the
manifests, never from scanning tars (``epoch_samples``, ``mix_probabilities``, ``epoch_quotas``).

**Exact epochs** (``plan_slot``). Every rank and DataLoader worker computes the same epoch plan
from the manifests, the seed and the epoch number, and takes its own slice of it:

1. each source's epoch sequence: its shards in a seeded order (one pass per epoch; a source
   whose quota is below what it holds takes a seeded prefix of whole shards, the last one cut;
   above, further passes in new orders), cut at the quota;
2. the mix: a seeded interleaving of the sources' quotas (sampling *without* replacement, so each
   source contributes exactly its quota and the proportions hold at every scale);
3. the cut: ranks get equal shares (+-1 sample) and the same number of batches; a rank's batches
   go to its workers in the DataLoader's round-robin order (batch j to worker j % workers), and a
   worker's samples are the consecutive run of the mix that fills its batches.

So a full-pass source is seen exactly once per epoch over all ranks and workers, in an order that
repeats run to run, and every rank takes the same number of steps. A worker reads only the shard
ranges of its run (tar headers are skipped over, not read through); shards may be fewer than
workers x ranks.

**Mixed batches.** Training shard sets are written shuffled (``shards.ShardSetWriter``'s
``shuffle_seed``); for sets that are not (written earlier, or by other tools: a page's samples
together, subjects in synthesis order), and to mix across shards in any case, a training worker reads the shard ranges of its run ``interleave_shards`` at a time, in a seeded
random order of their samples (``interleave_runs``), before the shuffle buffer: the same samples,
drawn from 8 shards' subjects at once instead of one shard's few pages.

**Bounded memory.** The shuffle buffer and the length-grouping buffer hold raw samples (PNG bytes +
JSON) and a token count computed before the processor runs (``batching.planned_length``); pixels
are processed per batch, right before the batch leaves the worker.

**Exact resumes.** ``BatchStream.resume(epoch, batches)`` makes each worker replay its part of the
plan without running the processor and drop the batches the rank already trained on; the
DataModule's loader saves and restores that count with Lightning's stateful-loader hooks.

Corrupt samples, over-long ones and ones whose assistant turn would get no label are skipped and
counted (each batch says how many since the previous one), with a rate-limited warning, never
silently; the plan's batch count stays, so a skipped sample makes a batch smaller, not a rank
shorter.
"""

from __future__ import annotations

import json
import logging
import math
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from cerebragloss.batching import (
    collate,
    collate_prompts,
    encode_prompt,
    encode_sample,
    group_by_length,
    load_image,
    planned_length,
)
from cerebragloss.model import PixelRange
from cerebragloss.shards import read_manifest

log = logging.getLogger(__name__)


@dataclass
class ShardSource:
    """One shard set in a mix.

    Args:
        path: shard-set folder (with ``manifest.json``).
        tasks: keep only these tasks (e.g. ``[caption]``); all when empty.
        samples: samples drawn from this source per epoch (default: all its matching samples);
            fewer than it holds = a seeded subset, more = repeated passes.
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


def source_shards(source: ShardSource) -> list[tuple[str, int]]:
    """(shard path, samples of the source's tasks in it) for every shard, from the manifest."""
    from pathlib import Path

    manifest = read_manifest(source.path)
    shards = manifest["shards"]
    if not source.tasks:
        return [(str(Path(source.path) / s["file"]), int(s["samples"])) for s in shards]
    if any("tasks" not in s for s in shards):
        raise ValueError(f"{source.path}: its manifest has no per-shard task counts (written by an older version), so the "
                         f"task filter {source.tasks} cannot be planned exactly; rewrite the shard set with the current tools")  # fmt: skip
    return [(str(Path(source.path) / s["file"]), sum(int(s["tasks"].get(t, 0)) for t in source.tasks)) for s in shards]


def epoch_samples(sources: list[ShardSource]) -> int:
    """Samples per epoch: the sum of each source's ``samples`` (or everything it has)."""
    return sum(s.samples if s.samples is not None else available_samples(s) for s in sources)


def _shares(sources: list[ShardSource]) -> list[Fraction]:
    if any(s.samples is not None for s in sources):
        shares = [s.samples if s.samples is not None else available_samples(s) for s in sources]
    elif any(s.weight is not None for s in sources):
        shares = [s.weight if s.weight is not None else 1.0 for s in sources]
    else:
        shares = [available_samples(s) for s in sources]
    return [Fraction(share).limit_denominator(10**9) for share in shares]


def mix_probabilities(sources: list[ShardSource]) -> list[float]:
    """Chance that the next sample comes from each source: per-source sample counts when given,
    else weights, else proportional to what each source holds."""
    shares = _shares(sources)
    total = sum(shares)
    if total <= 0:
        raise ValueError("the sources hold no samples")
    return [float(share / total) for share in shares]


def epoch_quotas(sources: list[ShardSource], total: int | None = None) -> list[int]:
    """Samples each source gives an epoch of ``total`` samples (default ``epoch_samples``): the
    mixing probabilities times the total, rounded by largest remainder so they add up exactly
    (with per-source ``samples`` and no other total, exactly those)."""
    shares = _shares(sources)
    if sum(shares) <= 0:
        raise ValueError("the sources hold no samples")
    total = epoch_samples(sources) if total is None else total
    exact = [total * share / sum(shares) for share in shares]
    quotas = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - quotas[i]), i))
    for i in by_remainder[: total - sum(quotas)]:
        quotas[i] += 1
    return quotas


# ---------------------------------------------------------------------------------------------
# The epoch plan


def source_sequence(counts: list[int], quota: int, rng: np.random.Generator | None) -> list[tuple[int, int, int]]:
    """A source's samples of one epoch as ``(shard, first, stop)`` runs (indices among the
    source's samples in that shard): passes over the shards in a seeded order (file order when
    ``rng`` is None), cut at ``quota``."""
    if quota > 0 and sum(counts) == 0:
        raise ValueError("a source with a quota holds no samples")
    runs, left = [], quota
    while left > 0:
        for shard in rng.permutation(len(counts)) if rng is not None else range(len(counts)):
            take = min(int(counts[shard]), left)
            if take:
                runs.append((int(shard), 0, take))
                left -= take
            if left == 0:
                break
    return runs


def cut_runs(runs: list[tuple[int, int, int]], start: int, stop: int) -> list[tuple[int, int, int]]:
    """The part ``[start, stop)`` of a sequence of runs, as runs."""
    out, position = [], 0
    for shard, first, end in runs:
        length = end - first
        lo, hi = max(start, position), min(stop, position + length)
        if lo < hi:
            out.append((shard, first + lo - position, first + hi - position))
        position += length
        if position >= stop:
            break
    return out


def rank_batch_sizes(samples: int, world_size: int, batch_size: int) -> list[list[int]]:
    """Batch sizes of every rank for an epoch of ``samples``: equal shares (+-1), the same number
    of batches on every rank (full batches first, the few smaller ones at the end). A rank with
    fewer samples than batches (batch size 1, or fewer samples than ranks) plans batches of 1
    and repeats a sample for the missing ones."""
    shares = [samples // world_size + (r < samples % world_size) for r in range(world_size)]
    count = math.ceil(shares[0] / batch_size) if shares[0] else 0
    sizes = []
    for share in shares:
        row = [batch_size] * count
        deficit = count * batch_size - share
        index = count - 1
        while deficit > 0 and any(size > 1 for size in row):
            if row[index] > 1:
                row[index] -= 1
                deficit -= 1
            index = index - 1 if index > 0 else count - 1
        sizes.append(row)
    return sizes


def worker_samples(sizes: list[int], share: int, num_workers: int) -> list[int]:
    """Samples each worker of a rank reads: the sizes of its batches (batch j is worker
    j % num_workers'), less one for each of the rank's last batches it lacks a sample for."""
    counts = [sum(sizes[w::num_workers]) for w in range(num_workers)]
    for j in range(len(sizes) - (sum(sizes) - share), len(sizes)):
        counts[j % num_workers] -= 1
    return counts


@dataclass
class Slot:
    """One worker of one rank in an epoch: which samples it reads and the batches it makes."""

    rank: int
    worker: int
    #: batch sizes, in the order this worker yields them
    batch_sizes: list[int]
    #: source of each of the worker's samples, in mix order
    tickets: np.ndarray
    #: per source: ``(shard path, first, stop)`` runs of the worker's samples, in order
    runs: list[list[tuple[str, int, int]]] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return len(self.tickets)


def plan_slot(shards: list[list[tuple[str, int]]], quotas: list[int], *, rank: int, world_size: int, worker: int,
              num_workers: int, batch_size: int, seed: int, epoch: int, shuffle: bool) -> Slot:  # fmt: skip
    """This worker's part of the epoch (see the module docstring); the same arguments give the
    same plan on every machine. ``shuffle=False``: sources one after another, shards in file order."""
    total = sum(quotas)
    rng = np.random.default_rng([seed, epoch]) if shuffle else None
    sequences = [source_sequence([n for _, n in s], q, rng) for s, q in zip(shards, quotas, strict=True)]
    tickets = np.repeat(np.arange(len(quotas), dtype=np.int16), quotas)
    if shuffle:
        tickets = rng.permutation(tickets)
    rows = rank_batch_sizes(total, world_size, batch_size)
    # Samples of every (rank, worker) before this one, in rank-major order; a rank's batch j is
    # yielded by worker j % num_workers (the DataLoader's round robin).
    start = 0
    for r in range(rank + 1):
        counts = worker_samples(rows[r], total // world_size + (r < total % world_size), num_workers)
        for w in range(num_workers):
            if (r, w) == (rank, worker):
                mine = tickets[start : start + counts[w]]
                runs = []
                for source, sequence in enumerate(sequences):
                    before = int(np.count_nonzero(tickets[:start] == source))
                    count = int(np.count_nonzero(mine == source))
                    runs.append([(shards[source][s][0], a, b) for s, a, b in cut_runs(sequence, before, before + count)])
                return Slot(rank, worker, list(rows[r][w::num_workers]), mine, runs)
            start += counts[w]
    raise ValueError(f"rank {rank} / worker {worker} outside {world_size} ranks x {num_workers} workers")


def read_runs(runs: list[tuple[str, int, int]], tasks: set[str] | None, on_error) -> Iterator[tuple[dict, bytes, str]]:
    """``(sample, png, key)`` of the given runs of shards. Outside a run, tar members are skipped
    without reading them (with a task filter, only their JSON is read to count them). A sample
    or shard that cannot be read is reported to ``on_error`` and left out."""
    for path, first, stop in runs:
        index = -1
        try:
            with tarfile.open(path, "r:") as tar:
                for key, members in _tar_samples(tar):
                    try:
                        sample = json.loads(tar.extractfile(members["json"]).read()) if tasks is not None else None
                    except (KeyError, AttributeError, ValueError) as error:
                        on_error(ValueError(f"{path}: {key}: no readable JSON ({error})"))
                        continue
                    if sample is not None and sample.get("task") not in tasks:
                        continue
                    index += 1
                    if index < first:
                        continue
                    if index >= stop:
                        break
                    try:
                        sample = sample or json.loads(tar.extractfile(members["json"]).read())
                        png = tar.extractfile(members["png"]).read()
                    except (KeyError, AttributeError, ValueError) as error:
                        on_error(ValueError(f"{path}: {key}: {type(error).__name__}: {error}"))
                        continue
                    yield sample, png, key
                    if index + 1 >= stop:
                        break
        except (tarfile.TarError, OSError, EOFError) as error:
            on_error(ValueError(f"{path}: unreadable after sample {index} of the shard ({error})"))


def interleave_runs(runs: list[tuple[str, int, int]], tasks: set[str] | None, on_error, width: int,
                    rng: np.random.Generator | None) -> Iterator[tuple[dict, bytes, str]]:  # fmt: skip
    """The samples of ``runs`` (as :func:`read_runs`), read from ``width`` runs at a time in a
    seeded random order of their samples: the same samples, mixed across shards.

    Shards hold a page's samples together and subjects in the order they were synthesized, so a
    worker that reads one shard after another fills its shuffle buffer (and its batches) from a
    few pages of a few subjects. ``width`` bounds the tars open at once; ``rng`` None or a width
    of 1 reads the runs one after another."""
    if rng is None or width <= 1:
        yield from read_runs(runs, tasks, on_error)
        return
    for start in range(0, len(runs), width):
        group = runs[start : start + width]
        readers = [read_runs([run], tasks, on_error) for run in group]
        try:
            for index in rng.permutation(np.repeat(np.arange(len(group)), [stop - first for _, first, stop in group])):
                item = next(readers[index], None)
                if item is not None:
                    yield item
        finally:
            for reader in readers:
                reader.close()


def _tar_samples(tar: tarfile.TarFile) -> Iterator[tuple[str, dict]]:
    """(key, {extension: member}) of consecutive members sharing a key."""
    key, members = None, {}
    for member in tar:
        name, _, extension = member.name.partition(".")
        if name != key and key is not None:
            yield key, members
            members = {}
        key = name
        members[extension] = member
    if key is not None:
        yield key, members


def shuffled(items: Iterator, size: int, rng: np.random.Generator) -> Iterator:
    """A shuffle buffer of ``size`` items (seeded)."""
    buffer: list = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        index = int(rng.integers(size))
        buffer[index], item = item, buffer[index]
        yield item
    for index in rng.permutation(len(buffer)):
        yield buffer[index]


class SkipCounter:
    """A handler (and a counter for over-long and unlabelled samples): counts what it skips and
    warns at most once per ``every_s`` seconds, naming the last problem."""

    def __init__(self, every_s: float = 30.0):
        self.corrupt = 0
        self.too_long = 0
        self.unlabelled = 0
        self.repeated = 0
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, error: Exception) -> bool:
        self.corrupt += 1
        self._warn(f"skipped a corrupt sample ({type(error).__name__}: {str(error)[:200]})")
        return True  # continue

    def long(self, sample_id: str, limit: int) -> None:
        self.too_long += 1
        self._warn(f"dropped {sample_id}: longer than max_length={limit} tokens")

    def no_label(self, sample_id: str) -> None:
        self.unlabelled += 1
        self._warn(f"dropped {sample_id}: an assistant turn would get no label tokens (e.g. it starts with a newline)")

    def repeat(self, count: int) -> None:
        self.repeated += count
        self._warn(f"repeated {count} sample(s) to fill the batches this rank must take (too few samples left after skipping)")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            log.warning("%s (so far in this worker: %s)", message, self.summary())

    def summary(self) -> str:
        return f"{self.corrupt} corrupt, {self.too_long} too long, {self.unlabelled} unlabelled, {self.repeated} repeated"

    @property
    def total(self) -> int:
        return self.corrupt + self.too_long + self.unlabelled


@dataclass
class StreamSettings:
    batch_size: int = 2
    max_length: int = 2048
    shuffle_buffer: int = 256
    #: shard runs a training worker reads at once, mixed (:func:`interleave_runs`); 1 = one after another
    interleave_shards: int = 8
    length_grouping: bool = True
    #: lengths within this many tokens count as equal when grouping (see ``group_by_length``)
    length_bucket: int = 16
    group_buffer_batches: int = 16
    seed: int = 0
    #: evaluation batches hold prompts (without the last answer) for generation, plus references
    generate: bool = False


class BatchStream(torch.utils.data.IterableDataset):
    """Collated batches of one rank's share of an epoch (see the module docstring).

    ``train=False``: no shuffling; sources one after another; each sample once. Every rank yields
    ``len(self)`` batches per epoch."""

    def __init__(self, sources: list[ShardSource], processor_factory, settings: StreamSettings, *, train: bool,
                 num_workers: int, world_size: int = 1, rank: int = 0, samples: int | None = None):  # fmt: skip
        super().__init__()
        if not sources:
            raise ValueError("no shard sources given")
        self.sources, self.settings, self.train = sources, settings, train
        self.processor_factory = processor_factory
        self.num_workers, self.world_size, self.rank = max(1, num_workers), max(1, world_size), rank
        self.quotas = epoch_quotas(sources, samples)
        self.samples = sum(self.quotas)
        self.probabilities = mix_probabilities(sources)
        self.shards = [source_shards(s) for s in sources]
        for source, shards, quota in zip(sources, self.shards, self.quotas, strict=True):
            if quota and not sum(n for _, n in shards):
                raise ValueError(f"{source.path}: no samples of tasks {source.tasks} in its shards")
        self.batches_per_rank = len(rank_batch_sizes(self.samples, self.world_size, settings.batch_size)[0])
        slots = self.num_workers * self.world_size
        if self.samples < slots:
            raise ValueError(f"{self.samples} samples per epoch < {self.num_workers} workers x {self.world_size} ranks: every worker "
                             "of every rank needs samples. Use fewer data.num_workers or more data.")  # fmt: skip
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, batches this rank already took)

    def __len__(self) -> int:
        return self.batches_per_rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, batches: int) -> None:
        """Continue ``epoch`` after the first ``batches`` batches of this rank."""
        self._resume = (epoch, batches)

    def slot(self, worker: int) -> Slot:
        return plan_slot(self.shards, self.quotas, rank=self.rank, world_size=self.world_size, worker=worker,
                         num_workers=self.num_workers, batch_size=self.settings.batch_size, seed=self.settings.seed,
                         epoch=self.epoch, shuffle=self.train)  # fmt: skip

    def _raw(self, slot: Slot, counter: SkipCounter, rng: np.random.Generator) -> Iterator[tuple[dict | None, bytes | None, str]]:
        width = self.settings.interleave_shards if self.train else 1
        readers = [interleave_runs(runs, set(s.tasks) if s.tasks else None, counter, width, rng)
                   for s, runs in zip(self.sources, slot.runs, strict=True)]  # fmt: skip
        for ticket in slot.tickets:
            item = next(readers[ticket], None)
            if item is not None:
                yield item

    def _measured(self, raw, processor, counter: SkipCounter) -> Iterator[tuple[int, dict, bytes]]:
        prompt_only = self.settings.generate and not self.train
        for sample, png, key in raw:
            if sample is None:
                continue  # counted where it was read
            try:
                length, labelled = planned_length(sample, png, processor, prompt_only)
            except Exception as error:  # noqa: BLE001 - a bad page or text is counted and skipped
                counter(ValueError(f"{key}: {type(error).__name__}: {error}"))
                continue
            if length > self.settings.max_length:
                counter.long(sample.get("id", key), self.settings.max_length)
            elif not labelled:
                counter.no_label(sample.get("id", key))
            else:
                yield length, sample, png

    def _encode(self, sample: dict, png: bytes, processor, counter: SkipCounter) -> dict | None:
        encode = encode_prompt if self.settings.generate and not self.train else encode_sample
        try:
            item = encode(sample, load_image(png), processor, self.settings.max_length)
        except Exception as error:  # noqa: BLE001 - a page that fails to decode is counted and skipped
            counter(error)
            return None
        if item is None:
            counter.long(sample["id"], self.settings.max_length)
            return None
        if not self.train:
            item["png"] = png  # evaluation keeps the page, to log or draw it next to the text
        return item

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = info.id if info else 0
        if (info.num_workers if info else 1) != self.num_workers:
            raise RuntimeError(f"the stream was planned for {self.num_workers} workers, the DataLoader runs {info.num_workers if info else 1}")
        slot = self.slot(worker)
        skip = 0
        if self._resume is not None and self._resume[0] == self.epoch:
            skip = len(range(worker, self._resume[1], self.num_workers))
        counter = SkipCounter()
        processor = self.processor_factory()
        rng = np.random.default_rng([self.settings.seed, self.epoch, self.rank, worker])
        # its own generator: the interleaving draws as many numbers as the slot has samples
        raw = self._raw(slot, counter, np.random.default_rng([self.settings.seed, self.epoch, self.rank, worker, 1]))
        if self.train and self.settings.shuffle_buffer > 1:
            raw = shuffled(raw, self.settings.shuffle_buffer, rng)
        buffer_batches = self.settings.group_buffer_batches if self.settings.length_grouping else 1
        batches = group_by_length(self._measured(raw, processor, counter), slot.batch_sizes, buffer_batches, rng, lambda item: item[0],
                                  self.settings.length_bucket)  # fmt: skip
        pad_id = processor.tokenizer.pad_token_id
        reported = 0
        last = None
        for number, (items, repeated) in enumerate(batches):
            if number < skip:
                continue  # trained before the resume: replayed as JSON + PNG headers only
            if repeated:
                counter.repeat(repeated)
            encoded = [e for e in (self._encode(sample, png, processor, counter) for _, sample, png in items) if e is not None]
            if not encoded:  # every page of the batch failed to decode: repeat the last good one
                if last is None:
                    raise RuntimeError(f"rank {self.rank} worker {worker}: no decodable sample to fill batch {number}")
                counter.repeat(1)
                encoded = [last]
            last = encoded[-1]
            batch = collate_prompts(encoded, pad_id) if self.settings.generate and not self.train else collate(encoded, pad_id)
            batch["skipped"] = counter.total - reported
            reported = counter.total
            yield batch
        if counter.total or counter.repeated:
            log.info("rank %d worker %d, epoch %d: %s", self.rank, worker, self.epoch, counter.summary())


def default_processor_factory(pretrained: str | None, pixels: PixelRange):
    """A picklable factory (DataLoader workers build their own processor)."""
    return _ProcessorFactory(pretrained, pixels)


class _ProcessorFactory:
    def __init__(self, pretrained: str | None, pixels: PixelRange):
        self.pretrained, self.pixels = pretrained, pixels

    def __call__(self):
        from cerebragloss.model import load_processor

        return load_processor(self.pretrained, self.pixels)
