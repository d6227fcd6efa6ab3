"""Shard sets: webdataset tar shards of Samples plus the ``manifest.json`` that describes them.

A shard set is one folder::

    DIR/<name>-000000.tar ...   each sample: <key>.png (the page) + <key>.json (the Sample)
    DIR/manifest.json           shards with sample and per-task counts, counts per task and source,
                                subjects, the generator (name, version, config), the page the
                                images were drawn as (montage, filters, render) and the creation time

Shards are written as ``.tar.partial`` and renamed when complete; the manifest is written last, so
a folder without ``manifest.json`` is not a finished shard set. Training sets are written in a
seeded random order of the whole set (``shuffle_seed``): synthesis produces a page's samples
together and subjects one after another, and a stream can only mix what its shards mix. Epoch lengths, mixing ratios and
the stop-at-fraction callback read manifests, never the tars. Splits are by subject
(``split_subjects``): no subject's pages are on two sides.
"""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
SPLITS: tuple[str, ...] = ("train", "val", "bench")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cerebragloss")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class SplitSettings:
    """Shares of subjects held out for validation and for the benchmark (the rest train)."""

    val: float = 0.1
    bench: float = 0.1
    seed: int = 0

    def fractions(self) -> dict[str, float]:
        return {"val": self.val, "bench": self.bench}


#: beside an annotation run: its subject split, recorded by the first step that splits it
SPLIT_FILE = "subject_split.json"


def subject_split(annotations_dir: str | Path, subjects: Iterable[str], settings: SplitSettings) -> dict[str, str]:
    """The subject split of an annotation run, the one place it is decided: ``split_subjects``
    over the run's subjects, recorded beside the annotations in ``subject_split.json`` (one
    entry per split setting asked for) and read back from there, so rule synthesis, teacher
    synthesis and the benchmark put each subject on the same side. A record that disagrees
    with the subjects (annotations added since) is refused."""
    path = Path(annotations_dir) / SPLIT_FILE
    key = json.dumps(asdict(settings), sort_keys=True)
    subjects = sorted(set(subjects))
    records = json.loads(path.read_text()) if path.exists() else {}
    if key in records:
        if sorted(records[key]) != subjects:
            raise ValueError(f"{path}: the split recorded for {key} holds other subjects than these annotations "
                             f"(annotations added or removed since); delete {path.name} to split anew")  # fmt: skip
        return records[key]
    records[key] = split_subjects(subjects, settings.fractions(), settings.seed)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(records, indent=1))
    temporary.replace(path)
    return records[key]


def detector_split(subjects: Iterable[str], val_fraction: float, seed: int, vlm: SplitSettings | None = None) -> dict[str, str]:
    """Subject -> ``train``/``val`` for the waveform detector, derived from the VLM's split
    (``split_subjects`` with ``vlm``, default ``SplitSettings(seed=seed)``) over the same subjects:
    the VLM's bench subjects are always on the detector's ``val`` side, so the detector scored on
    the benchmark never trained on its subjects. ``val`` holds ``val_fraction`` of the subjects
    (at least the bench, at least one while ``train`` keeps one), taken from the VLM's bench, then
    its val, then its train, each in the split's seeded order; ``val_fraction=1`` holds everything
    out. Only the same subject list gives the same bench: split the recordings the VLM's
    annotations came from."""
    vlm = vlm or SplitSettings(seed=seed)
    ordered = sorted(set(subjects))
    if val_fraction >= 1:
        return dict.fromkeys(ordered, "val")
    vlm_side = split_subjects(ordered, vlm.fractions(), vlm.seed)
    shuffled = [ordered[i] for i in np.random.default_rng(vlm.seed).permutation(len(ordered))]
    held_out_first = sorted(shuffled, key=lambda s: ("bench", "val", "train").index(vlm_side[s]))
    bench = sum(side == "bench" for side in vlm_side.values())
    count = int(round(val_fraction * len(ordered)))
    if val_fraction > 0 and len(ordered) > 1:
        count = min(max(count, 1), len(ordered) - 1)
    val = set(held_out_first[: max(count, bench)])
    return {s: "val" if s in val else "train" for s in ordered}


def split_subjects(subjects: Iterable[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Subject -> split: a seeded shuffle of the sorted subjects; the first ``fractions[split]``
    of them (in the order given) go to each named split, the rest to ``train``. Every split with a
    fraction > 0 gets at least one subject while ``train`` keeps one, so tiny runs still have a
    validation set. The same on every machine."""
    ordered = sorted(set(subjects))
    order = list(np.random.default_rng(seed).permutation(len(ordered)))
    wanted = {name: f for name, f in fractions.items() if f > 0}
    if sum(wanted.values()) > 1 + 1e-9:
        raise ValueError(f"split fractions {fractions} add up to more than 1")
    assignment: dict[str, str] = {}
    position = 0
    for name, fraction in wanted.items():
        count = int(round(fraction * len(ordered)))
        if fraction < 1 and len(ordered) > len(wanted):
            count = max(count, 1)
        count = min(count, len(ordered) - position - (0 if fraction >= 1 else 1 if len(ordered) > len(wanted) else 0))
        for index in order[position : position + max(count, 0)]:
            assignment[ordered[index]] = name
        position += max(count, 0)
    return {s: assignment.get(s, "train") for s in ordered}


def shard_key(sample_id: str) -> str:
    """webdataset splits a file name at its first dot into key and extension: no dots in keys."""
    return sample_id.replace(".", "_").replace("/", "_")


class ShardSetWriter:
    """Streams ``(sample, png bytes)`` into a shard set; ``close()`` writes the manifest.

    ``with ShardSetWriter(directory, name="rules") as writer: writer.write(sample, png)``. Earlier
    shards and partial files of the same name in ``directory`` are removed when it opens, so a
    rerun never mixes two runs' shards. Leaving the ``with`` block by an exception removes the
    shard in progress and writes no manifest.

    ``shuffle_seed`` (an int): the shards hold the samples in a seeded random order of the whole
    set instead of the order they came in. Samples are appended to one spool file as they come
    (memory holds only their offsets) and dealt into shards at ``close()``: one more sequential
    write of the set, and the spool's disk space until then.
    """

    def __init__(self, directory: str | Path, *, name: str = "samples", samples_per_shard: int = 1000,
                 generator: str = "cerebragloss", config: dict | None = None, page: dict | None = None,
                 shuffle_seed: int | None = None):  # fmt: skip
        self.directory = Path(directory)
        self.page = page
        self.name, self.samples_per_shard = name, samples_per_shard
        self.generator, self.config = generator, config or {}
        self.directory.mkdir(parents=True, exist_ok=True)
        self.spool_path = self.directory / f"{name}.spool.partial"
        for stale in [*self.directory.glob(f"{name}-*.tar"), *self.directory.glob(f"{name}-*.tar.partial"), self.directory / MANIFEST,
                      self.spool_path]:  # fmt: skip
            stale.unlink(missing_ok=True)
        self.shuffle_seed = shuffle_seed
        self._spool = open(self.spool_path, "w+b") if shuffle_seed is not None else None  # noqa: SIM115 - closed in close()/abort()
        self._spooled: list[tuple[str, int, int, int, str]] = []  # key, offset, png bytes, json bytes, task
        self.shards: list[dict] = []
        self.tasks: Counter = Counter()
        self.sources: Counter = Counter()
        self.subjects: set[str] = set()
        self._seen: set[str] = set()
        self._current: list | None = None  # [partial path, open file, TarWriter, samples in it]

    def write(self, sample: dict, png: bytes) -> None:
        key = shard_key(sample["id"])
        if key in self._seen:
            raise ValueError(f"sample id {sample['id']!r} written twice into {self.directory}")
        self._seen.add(key)
        self.tasks[sample["task"]] += 1
        self.sources[sample["source"]] += 1
        self.subjects.add(sample.get("subject") or "")
        encoded = json.dumps(sample, ensure_ascii=False).encode()
        if self._spool is None:
            self._write_member(key, png, encoded, sample["task"])
            return
        self._spooled.append((key, self._spool.tell(), len(png), len(encoded), sample["task"]))
        self._spool.write(png)
        self._spool.write(encoded)

    def _write_member(self, key: str, png: bytes, encoded: bytes, task: str) -> None:
        import webdataset as wds

        if self._current is None:
            partial = self.directory / f"{self.name}-{len(self.shards):06d}.tar.partial"
            stream = open(partial, "wb")  # noqa: SIM115 - closed in _finish_shard() or abort()
            self._current = [partial, stream, wds.TarWriter(stream, encoder=False), 0, Counter()]
        self._current[2].write({"__key__": key, "png": png, "json": encoded})
        self._current[3] += 1
        self._current[4][task] += 1
        if self._current[3] == self.samples_per_shard:
            self._finish_shard()

    def _finish_shard(self) -> None:
        partial, stream, tar, count, tasks = self._current
        tar.close()
        stream.close()  # flushed and closed before the rename: a ".tar" is always whole
        final = partial.with_suffix("")
        partial.replace(final)
        # per-shard task counts: a task-filtered source plans its exact epoch from them
        self.shards.append({"file": final.name, "samples": count, "tasks": dict(sorted(tasks.items()))})
        self._current = None

    def _deal_spool(self) -> None:
        """Write the spooled samples into shards in the seeded order, then drop the spool."""
        self._spool.flush()
        for index in np.random.default_rng(self.shuffle_seed).permutation(len(self._spooled)):
            key, offset, png_size, json_size, task = self._spooled[index]
            self._spool.seek(offset)
            png = self._spool.read(png_size)
            self._write_member(key, png, self._spool.read(json_size), task)
        self._close_spool()

    def _close_spool(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self.spool_path.unlink(missing_ok=True)

    def abort(self) -> None:
        self._close_spool()
        if self._current is not None:
            self._current[2].close()
            self._current[1].close()
            self._current[0].unlink(missing_ok=True)
            self._current = None

    def close(self) -> dict:
        """Finish the last shard, write ``manifest.json`` (last, through a temporary name), return it."""
        if self._spool is not None:
            self._deal_spool()
        if self._current is not None:
            self._finish_shard()
        manifest = {
            "name": self.name,
            "samples": sum(s["samples"] for s in self.shards),
            "shards": self.shards,
            "tasks": dict(sorted(self.tasks.items())),
            "sources": dict(sorted(self.sources.items())),
            "subjects": sorted(self.subjects - {""}),
            "generator": {"name": self.generator, "version": _version(), "config": self.config},
            # the samples' order in the shards: null = as written, else the seed of a shuffle of the whole set
            "shuffle_seed": self.shuffle_seed,
            # the page the samples' images were drawn as (settings.page_record); null for general images
            "page": self.page,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        temporary = self.directory / f"{MANIFEST}.partial"
        temporary.write_text(json.dumps(manifest, indent=1))
        temporary.replace(self.directory / MANIFEST)
        self.manifest = manifest
        return manifest

    def __enter__(self) -> ShardSetWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_shard_set(items: Iterable[tuple[dict, bytes]], directory: str | Path, **options) -> dict:
    """Write ``(sample, png bytes)`` pairs into a shard set (see :class:`ShardSetWriter` for the
    options) and return its manifest."""
    with ShardSetWriter(directory, **options) as writer:
        for sample, png in items:
            writer.write(sample, png)
    return writer.manifest


def read_manifest(directory: str | Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{directory}: no {MANIFEST} (not a shard set, or its writing did not finish)")
    return json.loads(path.read_text())


def shard_urls(directory: str | Path) -> list[str]:
    directory = Path(directory)
    return [str(directory / s["file"]) for s in read_manifest(directory)["shards"]]


def iter_shard_set(directory: str | Path) -> Iterator[tuple[dict, bytes]]:
    """Every ``(sample, png bytes)`` of a shard set, in order, through webdataset."""
    import webdataset as wds

    urls = shard_urls(directory)
    if not urls:
        return
    for entry in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        yield json.loads(entry["json"]), entry["png"]


def check_shard_set(directory: str | Path) -> list[str]:
    """Disagreements between a manifest and the tars it lists (empty when they agree): missing
    shards, sample counts, samples without a page or a Sample, leftover partial files."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    problems = []
    total = 0
    for shard in manifest["shards"]:
        path = directory / shard["file"]
        if not path.exists():
            problems.append(f"{shard['file']}: listed in the manifest, missing on disk")
            continue
        members: dict[str, set[str]] = {}
        try:
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    key, _, extension = member.name.partition(".")
                    members.setdefault(key, set()).add(extension)
        except tarfile.TarError as error:
            problems.append(f"{shard['file']}: unreadable tar ({error})")
            continue
        incomplete = [k for k, extensions in members.items() if extensions != {"png", "json"}]
        if incomplete:
            problems.append(f"{shard['file']}: {len(incomplete)} samples without both png and json (e.g. {incomplete[0]})")
        if len(members) != shard["samples"]:
            problems.append(f"{shard['file']}: manifest says {shard['samples']} samples, the tar holds {len(members)}")
        total += len(members)
    if total != manifest["samples"]:
        problems.append(f"manifest total {manifest['samples']} != {total} samples in the tars")
    listed = {s["file"] for s in manifest["shards"]}
    for path in sorted(directory.glob(f"{manifest['name']}-*.tar*")):
        if path.name not in listed:
            problems.append(f"{path.name}: on disk but not in the manifest")
    return problems
