"""Streaming batches from shard sets: epoch length from manifests, mixing, splitting, skipping."""

from __future__ import annotations

import io
import json
import math
from collections import Counter

import numpy as np
import pytest
import torch

from cerebragloss.model import PixelRange
from cerebragloss.shards import read_manifest, write_shard_set
from cerebragloss.streaming import (
    BatchStream,
    ShardSource,
    StreamSettings,
    default_processor_factory,
    epoch_quotas,
    epoch_samples,
    mix_probabilities,
)
from datamodules import ShardDataModule

PIXELS = PixelRange(min_pixels=32 * 784, max_pixels=64 * 784)


def _stream(sources, train=True, workers=1, world=1, **settings):
    defaults = {"batch_size": 2, "max_length": 1024, "shuffle_buffer": 8}
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


def _ids(stream, workers: int) -> list[list[str]]:
    """Each batch's ids, through a real DataLoader with ``workers`` worker processes."""
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers)
    return [batch["ids"] for batch in loader]


def _with_rank(stream, rank: int, epoch: int = 0):
    stream.rank = rank
    stream.set_epoch(epoch)
    return stream


def _full_pass_sources(shard_root):
    return [ShardSource(str(shard_root / "rules" / "train"), tasks=["caption", "mcq"]), ShardSource(str(shard_root / "teacher" / "train")),
            ShardSource(str(shard_root / "general" / "llava"))]  # fmt: skip


def _expected_ids(sources) -> list[str]:
    from cerebragloss.shards import iter_shard_set

    return sorted(s["id"] for source in sources for s, _ in iter_shard_set(source.path) if not source.tasks or s["task"] in source.tasks)


def test_an_epoch_over_two_ranks_of_two_workers_reads_every_sample_exactly_once(shard_root):
    sources = _full_pass_sources(shard_root)
    expected = _expected_ids(sources)
    assert len(expected) == epoch_samples(sources) > 40

    def epoch(number: int) -> list[list[list[str]]]:
        settings = {"workers": 2, "world": 2, "batch_size": 3, "group_buffer_batches": 2}
        return [_ids(_with_rank(_stream(sources, **settings), rank, number), workers=2) for rank in range(2)]

    first = epoch(0)
    seen = Counter(i for rank in first for batch in rank for i in batch)
    assert sorted(seen) == expected and set(seen.values()) == {1}  # every sample once, none twice
    assert len(first[0]) == len(first[1]) == len(_stream(sources, workers=2, world=2, batch_size=3))  # same steps on both ranks
    assert epoch(0) == first  # the same order run to run
    second = epoch(1)
    assert sorted(i for rank in second for batch in rank for i in batch) == expected and second != first  # a new order per epoch


def test_subsampled_and_upsampled_sources_keep_their_quotas(shard_root):
    captions = ShardSource(str(shard_root / "rules" / "train"), tasks=["caption"], samples=5)
    general = ShardSource(str(shard_root / "general" / "llava"), samples=24)  # holds 16: a pass and a half
    assert epoch_quotas([captions, general]) == [5, 24]
    ids = [i for rank in range(2) for batch in _ids(_with_rank(_stream([captions, general], workers=2, world=2), rank), 2) for i in batch]
    general_counts = Counter(i for i in ids if i.startswith("llava-"))
    assert sum("-caption-" in i for i in ids) == 5 == len({i for i in ids if "-caption-" in i})  # a subset, each once
    assert sum(general_counts.values()) == 24 and len(general_counts) == 16 and set(general_counts.values()) == {1, 2}
    assert epoch_quotas([captions, general], total=58) == [10, 48]  # an epoch length set by hand keeps the proportions


def test_too_few_samples_for_workers_and_ranks_fails_fast_with_the_fix_for_train_and_val(shard_root):
    source = [ShardSource(str(shard_root / "rules" / "train"), tasks=["caption"], samples=3)]
    with pytest.raises(ValueError, match="3 samples per epoch < 2 workers x 2 ranks.*fewer data.num_workers"):
        _stream(source, workers=2, world=2)
    few = ShardDataModule(root=str(shard_root), val=[ShardSource("rules/val", tasks=["caption"])], num_workers=1, pixels=PIXELS)
    ranks = few.epoch_samples("val") + 1
    few.trainer = type("FakeTrainer", (), {"world_size": ranks, "global_rank": 0})()  # only the two attributes the module reads
    with pytest.raises(ValueError, match=f"data.val: .* < 1 workers x {ranks} ranks"):
        few.val_dataloader()


class CountingProcessor:
    """The real processor, counting the calls that process pixels."""

    def __init__(self, processor):
        self.processor, self.pixel_calls = processor, 0

    def __call__(self, *args, **kwargs):
        self.pixel_calls += 1
        return self.processor(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.processor, name)


def test_a_resumed_stream_continues_after_the_trained_batches_without_processing_them(shard_root):
    sources = _full_pass_sources(shard_root)
    batches = [b["ids"] for b in _stream(sources)]
    resumed = _stream(sources)
    counting = CountingProcessor(resumed.processor_factory())
    resumed.processor_factory = lambda: counting
    resumed.resume(epoch=0, batches=5)
    assert [b["ids"] for b in resumed] == batches[5:]
    assert counting.pixel_calls == sum(len(b) for b in batches[5:])  # the skipped batches' pages were never processed
    other_epoch = _with_rank(_stream(sources), 0, epoch=1)
    other_epoch.resume(epoch=0, batches=5)  # a resume point of another epoch does not apply
    assert len(list(other_epoch)) == len(batches)


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


def test_corrupt_over_long_and_unlabelled_samples_are_skipped_and_counted(tmp_path, shard_root):
    from cerebragloss.shards import iter_shard_set

    good = [(s, p) for s, p in iter_shard_set(shard_root / "rules" / "val")][:6]
    broken_image = (dict(good[0][0], id="broken-image"), b"not a png")
    long_sample = dict(good[1][0], id="too-long")
    long_sample["messages"] = [dict(m) for m in long_sample["messages"]]
    long_sample["messages"][1]["content"] = "spike " * 2000
    # an answer opening with a newline: "assistant\n\n" tokenises differently, so no label
    unlabelled = dict(good[2][0], id="unlabelled")
    unlabelled["messages"] = [dict(m) for m in unlabelled["messages"]]
    unlabelled["messages"][1]["content"] = "\n" + unlabelled["messages"][1]["content"]
    write_shard_set([*good, broken_image, (long_sample, _png()), (unlabelled, _png())], tmp_path / "set", samples_per_shard=100)
    # a sample whose JSON is cut off, appended as its own shard by hand
    import tarfile

    with tarfile.open(tmp_path / "set" / "samples-000001.tar", "w") as tar:
        for name, data in (("cut.json", b'{"id": "cut", "task"'), ("cut.png", _png())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    manifest["shards"].append({"file": "samples-000001.tar", "samples": 1})
    manifest["samples"] += 1
    (tmp_path / "set" / "manifest.json").write_text(json.dumps(manifest))

    stream = _stream([ShardSource(str(tmp_path / "set"))], train=False, max_length=1024)
    batches = list(stream)
    ids = [i for b in batches for i in b["ids"]]
    assert sorted(ids) == sorted(s["id"] for s, _ in good)
    assert sum(b["skipped"] for b in batches) == 4  # broken image, cut-off JSON, too long, unlabelled
    assert len(batches) == len(stream) == 5  # 10 planned samples in batches of 2; the skips make batches smaller, not fewer


def test_lightning_gives_the_stream_each_new_epoch(shard_root, tmp_path):
    import lightning as L

    from lit_modules import VLMModule

    class EpochIds(L.Callback):
        def __init__(self):
            self.ids: dict[int, list[str]] = {}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.ids.setdefault(trainer.current_epoch, []).extend(batch["ids"])

    sources = [ShardSource("rules/train", tasks=["caption"]), ShardSource("general/llava")]
    data = ShardDataModule(root=str(shard_root), train=sources, batch_size=4, num_workers=1, pixels=PIXELS, max_length=1024)
    recorder = EpochIds()
    trainer = L.Trainer(accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[recorder], default_root_dir=str(tmp_path))  # fmt: skip
    trainer.fit(VLMModule(stage=1, preset="tiny", pixels=PIXELS), datamodule=data)
    expected = _expected_ids([ShardSource(str(shard_root / s.path), s.tasks) for s in sources])
    assert sorted(recorder.ids[0]) == sorted(recorder.ids[1]) == expected  # each epoch exact
    assert recorder.ids[0] != recorder.ids[1]  # and in its own order


def _shard_of(directory) -> dict[str, str]:
    """sample id -> the shard file that holds it, read from the tars."""
    import tarfile

    from cerebragloss.shards import shard_urls

    where = {}
    for url in shard_urls(directory):
        with tarfile.open(url) as tar:
            for member in tar:
                if member.name.endswith(".json"):
                    where[json.loads(tar.extractfile(member).read())["id"]] = url
    return where


def test_a_training_worker_mixes_its_shards_before_the_shuffle_buffer(shard_root):
    # no shuffle buffer, no length grouping: what the stream yields is the order it reads
    source = ShardSource(str(shard_root / "rules" / "train"))
    where = _shard_of(source.path)
    plain = {"shuffle_buffer": 1, "length_grouping": False, "batch_size": 4}
    one_by_one = [b["ids"] for b in _stream([source], interleave_shards=1, **plain)]
    mixed = [b["ids"] for b in _stream([source], interleave_shards=8, **plain)]
    # shard after shard: a batch of 4 from shards of 4 is one shard's samples (the last may be short)
    assert all(len({where[i] for i in batch}) == 1 for batch in one_by_one[:-1])
    assert sum(len({where[i] for i in batch}) > 1 for batch in mixed) >= len(mixed) // 2
    # the same samples, each once, and the same order again from the same seed
    assert sorted(i for b in mixed for i in b) == sorted(i for b in one_by_one for i in b) == sorted(where)
    assert [b["ids"] for b in _stream([source], interleave_shards=8, **plain)] == mixed


def test_length_buckets_mix_answers_that_differ_by_a_token():
    from cerebragloss.batching import group_by_length

    rng = np.random.default_rng(0)
    # "Yes, ..." and "No, ..." of one template: 120 and 121 tokens, arriving shuffled
    items = [(120 + (i % 2), i % 2) for i in rng.permutation(64)]
    exact = [b for b, _ in group_by_length(items, [8] * 8, 8, np.random.default_rng(1), lambda item: item[0])]
    bucketed = [b for b, _ in group_by_length(items, [8] * 8, 8, np.random.default_rng(1), lambda item: item[0], bucket=16)]
    assert all(len({answer for _, answer in batch}) == 1 for batch in exact)  # every batch all-yes or all-no
    assert sum(len({answer for _, answer in batch}) == 2 for batch in bucketed) >= 6
    assert sorted(bucketed_item for b in bucketed for bucketed_item in b) == sorted(items)
    # still grouped: a batch spans less than two buckets
    spread = [(3, 0), (40, 0), (5, 0), (45, 0), (9, 0), (47, 0), (2, 0), (33, 0)]
    grouped = [b for b, _ in group_by_length(spread, [4, 4], 2, np.random.default_rng(1), lambda item: item[0], bucket=16)]
    assert all(max(n for n, _ in b) - min(n for n, _ in b) < 32 for b in grouped)
