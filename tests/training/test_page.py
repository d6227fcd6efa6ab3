"""The page travels with the data: annotation run -> shard manifests -> model export -> the tools
that draw pages for a model; mixing pages is refused."""

from __future__ import annotations

import json

import lightning as L
import pytest

from callbacks import ExportHuggingFace
from cerebragloss.settings import (
    PAGE_FILE,
    PageMismatchError,
    PageSettings,
    annotation_page,
    page_for_model,
    page_record,
)
from cerebragloss.shards import read_manifest
from cerebragloss.streaming import ShardSource
from datamodules import ShardDataModule


def test_every_shard_manifest_carries_the_page_of_its_annotation_run(annotated, shard_root):
    from cerebragloss.engine.run import AnnotateSettings

    page = annotation_page(annotated)
    assert page == page_record(AnnotateSettings().montage, PageSettings())
    for folder in ("rules/train", "rules/val", "teacher/train"):
        manifest = read_manifest(shard_root / folder)
        assert manifest["page"] == page
        assert all(sum(s["tasks"].values()) == s["samples"] for s in manifest["shards"])  # per-shard task counts
    assert read_manifest(shard_root / "general" / "llava")["page"] is None  # general images are not pages


def test_the_pixel_range_follows_from_the_page_unless_set(shard_root):
    data = ShardDataModule(root=str(shard_root), train=[ShardSource("rules/train"), ShardSource("general/llava")])
    # 1344 x 756 px = 48 x 27 tokens of 28 px: the whole page, no downscaling
    assert (data.pixels.min_pixels, data.pixels.max_pixels) == (256 * 784, 1296 * 784)


def test_shard_sets_of_different_pages_are_not_mixed(shard_root, tmp_path):
    import shutil

    shutil.copytree(shard_root / "rules" / "val", tmp_path / "other")
    manifest = json.loads((tmp_path / "other" / "manifest.json").read_text())
    manifest["page"]["render"]["sensitivity_uv_per_mm"] = 7.0
    (tmp_path / "other" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PageMismatchError, match="render.sensitivity_uv_per_mm 10.0 != 7.0"):
        ShardDataModule(root="/", train=[ShardSource(str(shard_root / "rules" / "train"))], val=[ShardSource(str(tmp_path / "other"))])


def test_the_export_carries_the_page_and_a_later_stage_refuses_other_pages(shard_root, tmp_path):
    from lit_modules import VLMModule

    data = ShardDataModule(root=str(shard_root), train=[ShardSource("rules/train", tasks=["caption"])], batch_size=2, num_workers=0,
                           samples_per_epoch=2, max_length=4096)  # fmt: skip
    trainer = L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[ExportHuggingFace(str(tmp_path / "hf"))])  # fmt: skip
    trainer.fit(VLMModule(stage=1, preset="tiny", pixels=data.pixels), datamodule=data)
    recorded = json.loads((tmp_path / "hf" / PAGE_FILE).read_text())
    assert recorded["pixels"] == {"min_pixels": 200704, "max_pixels": 1016064}
    assert page_for_model(tmp_path / "hf") == (recorded["montage"], PageSettings())
    recorded["montage"] = "longitudinal_bipolar"
    (tmp_path / "hf" / PAGE_FILE).write_text(json.dumps(recorded))
    assert page_for_model(tmp_path / "hf", "auto")[0] == "longitudinal_bipolar"
    with pytest.raises(PageMismatchError, match="trained on longitudinal_bipolar pages; asked for average"):
        page_for_model(tmp_path / "hf", "average")

    recorded["montage"], recorded["render"]["width"] = data.page["montage"], 672
    (tmp_path / "hf" / PAGE_FILE).write_text(json.dumps(recorded))
    later = L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(PageMismatchError, match="model.init_from=.* trained on other pages.*render.width 672 != 1344"):
        later.fit(VLMModule(stage=2, preset="tiny", init_from=str(tmp_path / "hf"), pixels=data.pixels), datamodule=data)


def test_the_benchmark_carries_the_page_of_its_annotation_run(annotated, tmp_path):
    from cerebragloss.evaluation.bench import BenchSettings, make_bench
    from cerebragloss.settings import load_settings

    make_bench(annotated, tmp_path / "bench", load_settings(BenchSettings, overrides=["split.val=0.25", "split.bench=0.25"]), progress=False)
    assert read_manifest(tmp_path / "bench")["page"] == annotation_page(annotated)
