import json
from pathlib import Path

from PIL import Image

from cerebragloss.demo import run_demo
from cerebragloss.labels import WAVEFORM_CLASSES


def test_demo_runs_the_whole_pipeline_from_simulation_to_a_test_pass(tmp_path, capsys):
    result = run_demo(tmp_path, subjects=3, minutes=0.5, train_samples=8)
    assert result["errors"] == {}
    assert result["pages"] == 3 * 3 * 4  # subjects x pages x montages
    for montage in ("as_recorded", "average", "longitudinal_bipolar", "transverse_bipolar"):
        pages = sorted((tmp_path / "pages" / montage).glob("*.png"))
        assert len(pages) == 9
        assert Image.open(pages[0]).size == (1344, 756)
        assert len((tmp_path / "pages" / montage / "pages.jsonl").read_text().splitlines()) == 9
    out = capsys.readouterr().out
    assert "look at one:" in out and "SegmentAnnotations; first page: posterior dominant rhythm" in out
    assert Path(tmp_path / "recordings" / "sim000_r0.edf").exists()
    assert Path(tmp_path / "recordings" / "sim000_r0.events.json").exists()
    annotations = [json.loads(line) for line in (tmp_path / "annotations" / "annotations.jsonl").read_text().splitlines()]
    assert len(annotations) == 9 == result["annotated"]
    assert all(a["detector"] == {"ran": True, "coverage": {"within_training": True, "outside": []}} and "decisions" in a["findings"] for a in annotations)
    assert set(result["detection"]) == set(WAVEFORM_CLASSES)
    truth = sum(s.true_positives + s.false_negatives for s in result["detection"].values())
    assert truth > 0  # the simulated recordings hold events to find
    # step 4: rule and offline-teacher shard sets, one per split, each with its manifest
    from cerebragloss.shards import check_shard_set

    assert result["shards"]["rejected"] == 0 and result["shards"]["bench"] > 0
    assert sum(result["shards"]["rules"].values()) == 9 * 5 and sum(result["shards"]["teacher"].values()) == 9
    for name in ("rules", "teacher"):
        for split in result["shards"][name]:
            assert check_shard_set(tmp_path / "shards" / name / split) == []
    # steps 5-7: stage 1 (0.05 of 8 samples -> 1 step), stage 2 (8 samples / batch 2 = 4 steps), test
    training = result["training"]
    assert training["stage1"]["steps"] == 1 and training["stage2"]["steps"] == 4
    assert training["stage1"]["trainable"] == {"projector": 24800}
    assert set(training["stage2"]["trainable"]) == {"projector", "language_model"}
    assert set(training["test"]["metrics"]) >= {"test/mcq_accuracy", "test/complex_mcq_accuracy", "test/description_rouge1"}
    bench_report = Path(training["test"]["report"]).read_text()
    assert "| MCQ acc. (%) |" in bench_report and "- reference:" in bench_report
    assert "AP@0.5 per class:" in bench_report and "test/detection_map50" in training["test"]["metrics"]
    assert (tmp_path / "outputs" / "stage2" / "hf" / "model.safetensors").exists()
    report = (tmp_path / "report.md").read_text()
    assert "| stage1 | 1 | projector 24,800 |" in report and "test/mcq_accuracy" in report
