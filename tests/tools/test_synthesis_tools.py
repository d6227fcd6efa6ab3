"""tools/synthesize.py, tools/augment_llm.py and tools/convert_llava.py as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

from cerebragloss.shards import SPLITS, check_shard_set, iter_shard_set, read_manifest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _run(*args, env=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def _split_contents(out: Path) -> dict[str, list[dict]]:
    return {split: [s for s, _ in iter_shard_set(out / split)] for split in SPLITS if (out / split / "manifest.json").exists()}


def test_synthesize_writes_rule_shards_split_by_subject(annotated, tmp_path):
    result = _run(TOOLS / "synthesize.py", annotated, "--out", tmp_path / "rules", "--set", "samples_per_shard=7", "split.val=0.25")
    assert result.returncode == 0, result.stderr
    assert "24 pages -> 120 rule samples (binary 48, caption 24, mcq 48)" in result.stdout
    contents = _split_contents(tmp_path / "rules")
    assert set(contents) == {"train", "val", "bench"}
    subjects = {split: {s["subject"] for s in samples} for split, samples in contents.items()}
    assert sum(len(s) for s in subjects.values()) == 4 and not (subjects["train"] & subjects["val"] | subjects["train"] & subjects["bench"])
    for split, samples in contents.items():
        manifest = read_manifest(tmp_path / "rules" / split)
        assert check_shard_set(tmp_path / "rules" / split) == []
        assert manifest["samples"] == len(samples) and all(s["samples"] <= 7 for s in manifest["shards"])
        assert manifest["tasks"] == dict(Counter(s["task"] for s in samples))
        assert manifest["subjects"] == sorted(subjects[split])
    report = json.loads((tmp_path / "rules" / "report.json").read_text())
    assert report["pages_skipped"] == {} and report["settings"]["split"]["val"] == 0.25
    assert (tmp_path / "rules" / "synthesis_settings.yaml").exists()


def test_synthesize_accounts_for_a_missing_page_image(annotated, tmp_path):
    import shutil

    copy = tmp_path / "annotations"
    shutil.copytree(annotated, copy)
    missing = sorted((copy / "pages").glob("*.png"))[3]
    missing.unlink()
    result = _run(TOOLS / "synthesize.py", copy, "--out", tmp_path / "rules")
    assert result.returncode == 1
    assert f"skipped {missing.stem}: page image {missing.name} not found" in result.stderr
    assert "24 pages -> 115 rule samples" in result.stdout


def test_synthesize_names_a_mistyped_setting_and_a_missing_folder(tmp_path):
    result = _run(TOOLS / "synthesize.py", tmp_path, "--out", tmp_path / "o", "--set", "rules.mcq_per_pgae=3")
    assert result.returncode == 2 and "mcq_per_pgae" in result.stderr
    result = _run(TOOLS / "synthesize.py", tmp_path, "--out", tmp_path / "o")
    assert result.returncode == 2 and "no annotations*.jsonl" in result.stderr


def test_augment_offline_writes_the_three_tasks_one_to_one_to_one(annotated, tmp_path):
    result = _run(TOOLS / "augment_llm.py", annotated, "--out", tmp_path / "llm", "--teacher", "offline", "--limit", "21")
    assert result.returncode == 0, result.stderr
    assert "requested 21: accepted 21 (complex_mcq 7, conversation 7, description 7), rejected 0" in result.stdout
    samples = [s for samples in _split_contents(tmp_path / "llm").values() for s in samples]
    assert Counter(s["task"] for s in samples) == {"complex_mcq": 7, "conversation": 7, "description": 7}
    assert {s["source"] for s in samples} == {"offline"} and len({s["id"] for s in samples}) == 21
    conversation = next(s for s in samples if s["task"] == "conversation")
    assert [m["role"] for m in conversation["messages"]][:4] == ["user", "assistant", "user", "assistant"]
    # a rerun asks nothing new
    again = _run(TOOLS / "augment_llm.py", annotated, "--out", tmp_path / "llm", "--limit", "21")
    assert "requested 21: from cache 21, asked 0" in again.stdout


def test_augment_with_gemini_and_no_key_says_which_variable(annotated, tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    result = _run(TOOLS / "augment_llm.py", annotated, "--out", tmp_path / "llm", "--teacher", "gemini", env=env)
    assert result.returncode == 2 and "GEMINI_API_KEY or GOOGLE_API_KEY" in result.stderr


def test_convert_llava_records_with_problems_are_skipped_and_named(tmp_path):
    images = tmp_path / "images" / "00000"
    images.mkdir(parents=True)
    Image.new("RGB", (32, 24), (10, 200, 30)).save(images / "000000010.jpg")
    Image.new("L", (16, 16), 128).save(images / "000000011.png")
    (images / "broken.jpg").write_bytes(b"not an image")
    records = [
        {"id": "000000010", "image": "00000/000000010.jpg",
         "conversations": [{"from": "human", "value": "Describe the image.\n<image>"}, {"from": "gpt", "value": "A green square."}]},
        {"id": "000000011", "image": "00000/000000011.png",
         "conversations": [{"from": "human", "value": "<image>\nWhat colour?"}, {"from": "gpt", "value": "Grey."},
                           {"from": "human", "value": "Sure?"}, {"from": "gpt", "value": "Yes."}]},
        {"id": "missing", "image": "00000/nothere.jpg", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "x"}]},
        {"id": "broken", "image": "00000/broken.jpg", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "x"}]},
        {"id": "odd", "image": "00000/000000010.jpg", "conversations": [{"from": "gpt", "value": "x"}]},
    ]  # fmt: skip
    (tmp_path / "llava.json").write_text(json.dumps(records))
    result = _run(TOOLS / "convert_llava.py", tmp_path / "llava.json", tmp_path / "images", "--out", tmp_path / "general")
    assert result.returncode == 0, result.stderr
    assert "5 records -> 2 general samples, 3 skipped" in result.stdout
    for name in ("missing", "broken", "odd"):
        assert f"skipped {name}:" in result.stderr
    samples = list(iter_shard_set(tmp_path / "general"))
    first, png = samples[0]
    assert first["task"] == "general" and first["source"] == "general" and first["annotation"] is None
    assert first["messages"][0]["content"] == "<image>\nDescribe the image."
    assert len(samples[1][0]["messages"]) == 4
    assert png.startswith(b"\x89PNG") and Image.open(__import__("io").BytesIO(png)).size == (32, 24)
    assert read_manifest(tmp_path / "general")["tasks"] == {"general": 2}


def test_make_bench_holds_out_the_bench_subjects_with_truth_boxes(annotated, tmp_path):
    rules = _run(TOOLS / "synthesize.py", annotated, "--out", tmp_path / "rules", "--set", "split.val=0.25", "split.bench=0.25")
    assert rules.returncode == 0, rules.stderr
    result = _run(TOOLS / "make_bench.py", annotated, "--out", tmp_path / "bench", "--set", "split.val=0.25", "split.bench=0.25")
    assert result.returncode == 0, result.stderr
    samples = [s for s, _ in iter_shard_set(tmp_path / "bench")]
    bench_subjects = {s["subject"] for s in samples}
    assert bench_subjects == {s["subject"] for s, _ in iter_shard_set(tmp_path / "rules" / "bench")}
    trained = {s["subject"] for s, _ in iter_shard_set(tmp_path / "rules" / "train")}
    assert bench_subjects and not bench_subjects & trained
    pages = {s["page"] for s in samples}
    assert Counter(s["task"] for s in samples) == {"description": len(pages), "complex_mcq": len(pages), "conversation": len(pages),
                                                   "mcq": 2 * len(pages)}  # fmt: skip
    assert {s["boxes_source"] for s in samples} == {"truth"} and any(s["boxes"] for s in samples)
    assert check_shard_set(tmp_path / "bench") == []
