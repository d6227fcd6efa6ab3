"""Benchmark scoring of generated answers, the report, and batched generation in the module."""

from __future__ import annotations

import pytest
import torch

from cerebragloss.evaluation.benchmark import score_generations, write_report

OPTIONS = ["Spike", "Sharp wave", "K-complex", "Sleep spindle"]
ROWS = [
    {"id": "a", "task": "mcq", "prediction": "B. Sharp wave", "reference": "B. Sharp wave", "question": "q", "options": OPTIONS, "answer": "B"},
    {"id": "b", "task": "mcq", "prediction": "It is a K-complex.", "reference": "D. Sleep spindle", "question": "q", "options": OPTIONS, "answer": "D"},
    {"id": "c", "task": "binary", "prediction": "Yes, at 4.2 s.", "reference": "Yes.", "question": "q", "options": None, "answer": "yes"},
    {"id": "d", "task": "binary", "prediction": "Maybe.", "reference": "No.", "question": "q", "options": None, "answer": "no"},
    {"id": "e", "task": "description", "prediction": "the cat sat on the mat", "reference": "the cat is on the mat", "question": "q",
     "options": None, "answer": None},
    {"id": "f", "task": "conversation", "prediction": "x", "reference": "y", "question": "q", "options": None, "answer": None},
]  # fmt: skip


def test_scores_per_task_family():
    scores = score_generations(ROWS)
    assert scores["samples"] == {"binary": 2, "conversation": 1, "description": 1, "mcq": 2}
    assert scores["mcq_accuracy"] == pytest.approx(0.5) and scores["mcq_parsed"] == pytest.approx(1.0)
    assert scores["binary_accuracy"] == pytest.approx(0.5)
    assert scores["description_rouge1"] == pytest.approx(5 / 6, abs=1e-4)
    assert scores["judge"] is None  # no judge configured: not scored, not zero


def test_the_report_has_the_paper_table_and_examples(tmp_path):
    path = write_report(tmp_path / "report.md", score_generations(ROWS), ROWS, detection={"map50": 0.5, "ap50": {"spike": 0.5}})
    text = path.read_text()
    assert "| 50.00 | - | 50.00 | 83.33 | - | 50.00 | - | - |" in text
    assert "QA judge: not scored" in text and "- generated: B. Sharp wave" in text
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == len(ROWS)


def _step_logits(module, batch) -> torch.Tensor:
    """Greedy generation's logits per step, ``[rows, steps, vocab]``."""
    inputs = {k: v for k, v in batch.items() if k not in ("ids", "references", "samples", "pngs")}
    output = module.model.generate(**inputs, max_new_tokens=module.hparams.max_new_tokens, do_sample=False, output_logits=True,
                                   return_dict_in_generate=True, pad_token_id=module.processor.tokenizer.pad_token_id)  # fmt: skip
    return torch.stack(output.logits, dim=1)


def test_batched_left_padded_generation_equals_one_by_one(shard_root):
    from cerebragloss.batching import collate_prompts, encode_prompt, load_image
    from cerebragloss.model import PixelRange
    from cerebragloss.shards import iter_shard_set
    from lit_modules import VLMModule

    pixels = PixelRange(min_pixels=32 * 784, max_pixels=64 * 784)
    module = VLMModule(stage=2, preset="tiny", pixels=pixels, max_new_tokens=5)
    module.configure_model()
    module.model.eval()
    pairs = list(iter_shard_set(shard_root / "teacher" / "bench"))[:3]
    items = [encode_prompt(s, load_image(p), module.processor, 4096) for s, p in pairs]
    assert len({len(i["input_ids"]) for i in items}) > 1  # different lengths: padding matters
    pad = module.processor.tokenizer.pad_token_id
    # Per-step logits, not decoded text: the random tiny model's greedy text is often empty, which
    # would hide a padding bug; a wrong mask or position shifts every logit of the padded rows.
    together = _step_logits(module, collate_prompts(items, pad))
    for row, item in enumerate(items):
        alone = _step_logits(module, collate_prompts([item], pad))[0]
        torch.testing.assert_close(together[row], alone, rtol=1e-4, atol=1e-4)
    assert module.generate(collate_prompts(items, pad)) == [module.generate(collate_prompts([item], pad))[0] for item in items]
    batch = collate_prompts(items, pad)
    assert (batch["attention_mask"][:, -1] == 1).all() and batch["references"] == [s["messages"][-1]["content"] for s, _ in pairs]
    assert torch.equal(batch["attention_mask"].sum(1), torch.tensor([len(i["input_ids"]) for i in items]))


def test_predict_writes_every_generation_to_jsonl(shard_root, tmp_path):
    import json

    import lightning as L

    from callbacks import WritePredictions
    from cerebragloss.model import PixelRange
    from cerebragloss.shards import read_manifest
    from cerebragloss.streaming import ShardSource
    from datamodules import ShardDataModule
    from lit_modules import VLMModule

    pixels = PixelRange(min_pixels=32 * 784, max_pixels=64 * 784)
    data = ShardDataModule(root=str(shard_root), test=[ShardSource("teacher/bench")], batch_size=3, num_workers=0, pixels=pixels, generate=True)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[WritePredictions()], default_root_dir=str(tmp_path))
    trainer.predict(VLMModule(stage=2, preset="tiny", pixels=pixels, max_new_tokens=3), datamodule=data, return_predictions=False)
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == read_manifest(shard_root / "teacher" / "bench")["samples"]
    assert {"id", "task", "prediction", "reference", "question"} <= set(rows[0])


def test_engine_reference_boxes_keep_every_box_of_a_discharge_and_leave_questioned_events_out():
    # A discharge boxed in two chains is one cleaned finding (its second box in other_boxes): the
    # benchmark's engine reference must still hold both boxes.
    from cerebragloss.evaluation.bench import reference_boxes

    discharge = {"class": "spike_and_slow_wave", "channels": ["Fp1-F3", "Fp2-F4"], "start_s": 4.0, "end_s": 4.4, "confidence": 0.7,
                 "box": [10.0, 20.0, 60.0, 80.0], "other_boxes": [[12.0, 200.0, 62.0, 260.0]]}  # fmt: skip
    spindle = {"class": "sleep_spindle", "channels": ["C3-P3"], "start_s": 2.0, "end_s": 3.0, "box": [1.0, 2.0, 3.0, 4.0], "questioned": True}
    boxes, source = reference_boxes({"findings": {"events": [discharge, spindle]}}, None)
    assert source == "engine" and [b["box"] for b in boxes] == [discharge["box"], discharge["other_boxes"][0]]
    assert {b["class"] for b in boxes} == {"spike_and_slow_wave"}
