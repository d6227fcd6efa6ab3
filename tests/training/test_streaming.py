"""Streaming batches from shard sets: epoch length from manifests, mixing, splitting, skipping."""

from __future__ import annotations

import io
import json
import math
from collections import Counter

import pytest
import torch

from cerebragloss.model import PixelRange
from cerebragloss.shards import read_manifest, write_shard_set
from cerebragloss.streaming import (
    BatchStream,
    ShardSource,
    StreamSettings,
    default_processor_factory,
    epoch_samples,
    mix_probabilities,
)
from datamodules import ShardDataModule

PIXELS = PixelRange(min_pixels=32 * 784, max_pixels=64 * 784)


def _stream(sources, train=True, workers=1, world=1, **settings):
    defaults = {"batch_size": 2, "max_length": 1024, "shuffle_buffer": 8, "resample": train}
    return BatchStream(sources, default_processor_factory(None, PIXELS), StreamSettings(**(defaults | settings)),
                       train=train, num_workers=workers, world_size=world)  # fmt: skip


def test_epoch_length_and_mix_come_from_the_manifests(shard_root):
    rules = read_manifest(shard_root / "rules" / "train")
    captions = ShardSource(str(shard_root / "rules" / "train"), tasks=["caption"])
    general = ShardSource(str(shard_root / "general" / "llava"))
    assert epoch_samples([captions, general]) == rules["tasks"]["caption"] + read_manifest(shard_root / "general" / "llava")["samples"]
    counted = [ShardSource(captions.path, tasks=["caption"], samples=300), ShardSource(general.path, samples=100)]
    assert epoch_samples(counted) == 400 and mix_probabilities(counted) == [0.75, 0.25]
    weighted = [ShardSource(captions.path, weight=1), ShardSource(general.path, weight=3)]
    assert mix_probabilities(weighted) == [0.25, 0.75]
    stream = _stream(counted, world=2)
    assert len(stream) == math.ceil(400 / (2 * 2))
    with pytest.raises(ValueError, match="none of tasks"):
        epoch_samples([ShardSource(general.path, tasks=["caption"])])


def test_sources_are_mixed_by_their_sample_counts(shard_root):
    sources = [ShardSource(str(shard_root / "rules" / "train"), tasks=["mcq"], samples=300),
               ShardSource(str(shard_root / "general" / "llava"), samples=100)]  # fmt: skip
    torch.manual_seed(0)
    import random

    random.seed(0)
    stream = _stream(sources, batch_size=4, group_buffer_batches=1)
    ids = [i for batch, _ in zip(stream, range(20), strict=False) for i in batch["ids"]]
    assert len(ids) == 80
    general = sum(i.startswith("llava-") for i in ids)
    assert 10 <= general <= 30  # expected 20 of 80 (p = 0.25)
    assert all(i.startswith("llava-") or "-mcq-" in i for i in ids)  # the task filter holds


def test_too_few_shards_for_the_workers_fails_fast_with_the_fix(shard_root):
    shards = len(read_manifest(shard_root / "rules" / "train")["shards"])
    source = [ShardSource(str(shard_root / "rules" / "train"))]
    with pytest.raises(ValueError, match=f"{shards} shards < 2 workers x {shards} ranks.*resample=true"):
        _stream(source, workers=2, world=shards, resample=False)
    _stream(source, workers=2, world=shards, resample=True)  # resampling needs no split


def test_two_workers_read_every_evaluation_sample_exactly_once(shard_root):
    data = ShardDataModule(root=str(shard_root), val=[ShardSource("rules/val")], batch_size=3, num_workers=2, pixels=PIXELS)
    ids = [i for batch in data.val_dataloader() for i in batch["ids"]]
    manifest = read_manifest(shard_root / "rules" / "val")
    assert len(ids) == manifest["samples"] == len(set(ids))


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_corrupt_and_over_long_samples_are_skipped_and_counted(tmp_path, shard_root):
    from cerebragloss.shards import iter_shard_set

    good = [(s, p) for s, p in iter_shard_set(shard_root / "rules" / "val")][:6]
    broken_image = (dict(good[0][0], id="broken-image"), b"not a png")
    long_sample = dict(good[1][0], id="too-long")
    long_sample["messages"] = [dict(m) for m in long_sample["messages"]]
    long_sample["messages"][1]["content"] = "spike " * 2000
    write_shard_set([*good, broken_image, (long_sample, _png())], tmp_path / "set", samples_per_shard=100)
    # a sample whose JSON is cut off, appended as its own shard by hand
    import tarfile

    with tarfile.open(tmp_path / "set" / "samples-000001.tar", "w") as tar:
        for name, data in (("cut.json", b'{"id": "cut", "task"'), ("cut.png", _png())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    manifest["shards"].append({"file": "samples-000001.tar", "samples": 1})
    (tmp_path / "set" / "manifest.json").write_text(json.dumps(manifest))

    stream = _stream([ShardSource(str(tmp_path / "set"))], train=False, max_length=1024)
    batches = list(stream)
    ids = [i for b in batches for i in b["ids"]]
    assert sorted(ids) == sorted(s["id"] for s, _ in good)
    assert sum(b["skipped"] for b in batches) == 3  # broken image, cut-off JSON, too long
    assert Counter(len(b["ids"]) for b in batches) == {2: 3}
