"""Shard sets: webdataset tars + manifest.json, written atomically, split by subject."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from PIL import Image

from cerebragloss.shards import (
    SplitSettings,
    check_shard_set,
    iter_shard_set,
    read_manifest,
    split_subjects,
    write_shard_set,
)
from cerebragloss.synthesis.samples import make_sample


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 4), (value, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _items(count: int, subjects: int = 3, task: str = "caption"):
    for i in range(count):
        messages = [{"role": "user", "content": "<image>\nDescribe."}, {"role": "assistant", "content": f"page {i}"}]
        sample = make_sample(id=f"rec.{i}", task=task, source="rule", messages=messages, subject=f"s{i % subjects}",
                             recording=f"rec{i % subjects}", annotation={"key": f"k{i}"})  # fmt: skip
        yield sample, _png(i)


def test_round_trip_and_manifest_counts_equal_the_tars(tmp_path):
    manifest = write_shard_set(_items(25), tmp_path, name="rules", samples_per_shard=10, generator="test", config={"a": 1})
    assert [s["samples"] for s in manifest["shards"]] == [10, 10, 5]
    assert [s["file"] for s in manifest["shards"]] == ["rules-000000.tar", "rules-000001.tar", "rules-000002.tar"]
    assert manifest["samples"] == 25 and manifest["tasks"] == {"caption": 25} and manifest["sources"] == {"rule": 25}
    assert manifest["subjects"] == ["s0", "s1", "s2"] and manifest["generator"]["config"] == {"a": 1}
    assert read_manifest(tmp_path) == manifest
    # counted independently of webdataset, straight from the tar members
    for shard in manifest["shards"]:
        with tarfile.open(tmp_path / shard["file"]) as tar:
            names = tar.getnames()
        assert len(names) == 2 * shard["samples"] and {n.rsplit(".", 1)[1] for n in names} == {"png", "json"}
    assert check_shard_set(tmp_path) == []
    samples = list(iter_shard_set(tmp_path))
    assert [s["id"] for s, _ in samples] == [f"rec.{i}" for i in range(25)]  # dots survive in the Sample
    assert Image.open(io.BytesIO(samples[7][1])).getpixel((0, 0)) == (7, 0, 0)
    assert not list(tmp_path.glob("*.partial"))


def test_a_shuffled_set_holds_every_sample_once_in_a_seeded_order_of_the_whole_set(tmp_path):
    # Written as synthesis writes: subjects one after another (s0 x 10, then s1, s2)...
    items = [(sample, png) for sample, png in _items(30, subjects=1)]
    for i, (sample, _) in enumerate(items):
        sample["subject"] = f"s{i // 10}"
    manifest = write_shard_set(items, tmp_path / "a", samples_per_shard=10, shuffle_seed=3)
    samples = list(iter_shard_set(tmp_path / "a"))
    ids = [s["id"] for s, _ in samples]
    assert sorted(ids) == sorted(f"rec.{i}" for i in range(30)) and ids != [f"rec.{i}" for i in range(30)]
    # ...every shard now holds every subject (in write order each held one), and pages stay with their JSON
    for start in (0, 10, 20):
        assert {s["subject"] for s, _ in samples[start : start + 10]} == {"s0", "s1", "s2"}
    assert all(Image.open(io.BytesIO(png)).getpixel((0, 0))[0] == int(s["id"].split(".")[1]) for s, png in samples)
    assert check_shard_set(tmp_path / "a") == [] and manifest["shuffle_seed"] == 3
    assert not list((tmp_path / "a").glob("*.partial"))  # the spool is gone
    write_shard_set(items, tmp_path / "b", samples_per_shard=10, shuffle_seed=3)
    assert [s["id"] for s, _ in iter_shard_set(tmp_path / "b")] == ids  # seeded: the same order again
    write_shard_set(items, tmp_path / "c", samples_per_shard=10)
    assert [s["id"] for s, _ in iter_shard_set(tmp_path / "c")] == [f"rec.{i}" for i in range(30)]  # no seed: as written


def test_a_crash_midway_leaves_no_finished_looking_shard_set(tmp_path):
    def crashing():
        yield from _items(15)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_shard_set(crashing(), tmp_path, name="rules", samples_per_shard=10)
    assert not (tmp_path / "manifest.json").exists()
    # the finished first shard stays (it is whole), the one in progress is removed, no manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules-000000.tar"]
    with pytest.raises(FileNotFoundError, match="not a shard set"):
        read_manifest(tmp_path)
    # the rerun replaces both
    write_shard_set(_items(4), tmp_path, name="rules", samples_per_shard=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "rules-000000.tar"]
    assert check_shard_set(tmp_path) == []
    # a shuffled set deals its shards at the end: a crash leaves no shard, no spool, no manifest
    with pytest.raises(RuntimeError, match="disk full"):
        write_shard_set(crashing(), tmp_path / "shuffled", name="rules", samples_per_shard=10, shuffle_seed=0)
    assert list((tmp_path / "shuffled").iterdir()) == []


def test_check_names_every_disagreement(tmp_path):
    write_shard_set(_items(12), tmp_path, name="rules", samples_per_shard=5)
    manifest = read_manifest(tmp_path)
    manifest["shards"][0]["samples"] = 6
    manifest["samples"] = 13
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "rules-000002.tar").unlink()
    (tmp_path / "rules-000009.tar").write_bytes(b"")
    problems = check_shard_set(tmp_path)
    assert "rules-000000.tar: manifest says 6 samples, the tar holds 5" in problems
    assert "rules-000002.tar: listed in the manifest, missing on disk" in problems
    assert "rules-000009.tar: on disk but not in the manifest" in problems
    assert "manifest total 13 != 10 samples in the tars" in problems


def test_an_id_written_twice_is_refused(tmp_path):
    items = list(_items(3))
    with pytest.raises(ValueError, match="written twice"):
        write_shard_set(items + items[:1], tmp_path)


def test_subject_splits_are_disjoint_seeded_and_keep_every_split_alive():
    subjects = [f"sub{i:02d}" for i in range(40)]
    split = split_subjects(subjects, {"val": 0.1, "bench": 0.15}, seed=0)
    assert set(split) == set(subjects)
    counts = {name: sum(v == name for v in split.values()) for name in ("train", "val", "bench")}
    assert counts == {"train": 30, "val": 4, "bench": 6}
    assert split == split_subjects(list(reversed(subjects)), {"val": 0.1, "bench": 0.15}, seed=0)
    assert split != split_subjects(subjects, {"val": 0.1, "bench": 0.15}, seed=1)
    tiny = split_subjects(["a", "b", "c"], {"val": 0.1, "bench": 0.1}, seed=0)
    assert sorted(tiny.values()) == ["bench", "train", "val"]
    assert split_subjects(["a", "b"], {"val": 1.0}, seed=0) == {"a": "val", "b": "val"}
    with pytest.raises(ValueError, match="more than 1"):
        split_subjects(subjects, {"val": 0.6, "bench": 0.5}, seed=0)


def test_the_subject_split_is_decided_once_per_annotation_run_and_read_back(tmp_path):
    import json

    from cerebragloss.shards import SPLIT_FILE, SplitSettings, subject_split

    subjects = [f"s{i:02d}" for i in range(20)]
    settings = SplitSettings(val=0.2, bench=0.1, seed=3)
    first = subject_split(tmp_path, subjects, settings)
    assert first == split_subjects(subjects, settings.fractions(), settings.seed)
    recorded = json.loads((tmp_path / SPLIT_FILE).read_text())
    assert list(recorded.values()) == [first]
    assert subject_split(tmp_path, reversed(subjects), settings) == first  # read back, not recomputed
    with pytest.raises(ValueError, match="holds other subjects"):
        subject_split(tmp_path, [*subjects, "s99"], settings)


def test_the_detector_split_keeps_the_vlm_bench_subjects_out_of_detector_training():
    from cerebragloss.shards import SplitSettings, detector_split

    subjects = [f"s{i:02d}" for i in range(30)]
    vlm = split_subjects(subjects, SplitSettings().fractions(), seed=4)
    detector = detector_split(subjects, 0.2, seed=4)
    assert {s for s, side in vlm.items() if side == "bench"} <= {s for s, side in detector.items() if side == "val"}
    assert detector == {s: "train" if side == "train" else "val" for s, side in vlm.items()}  # 0.2 = the VLM's val + bench
    assert set(detector_split(subjects, 1.0, seed=4).values()) == {"val"}


@pytest.mark.parametrize("val_fraction", [0.0, 0.1, 0.15, 0.3, 0.5])
@pytest.mark.parametrize("vlm", [SplitSettings(seed=4), SplitSettings(val=0.25, bench=0.25, seed=4)])
def test_the_detector_split_holds_out_the_bench_at_any_val_fraction(val_fraction, vlm):
    # A detector val share below, between or above the VLM's val + bench still keeps every bench
    # subject out of detector training, and holds out val_fraction of the subjects where it can.
    from cerebragloss.shards import detector_split

    subjects = [f"s{i:02d}" for i in range(30)]
    bench = {s for s, side in split_subjects(subjects, vlm.fractions(), vlm.seed).items() if side == "bench"}
    detector = detector_split(subjects, val_fraction, seed=vlm.seed, vlm=vlm)
    held_out = {s for s, side in detector.items() if side == "val"}
    assert bench and bench <= held_out
    assert len(held_out) == max(len(bench), round(val_fraction * 30))
    assert detector == detector_split(list(reversed(subjects)), val_fraction, seed=vlm.seed, vlm=vlm)
