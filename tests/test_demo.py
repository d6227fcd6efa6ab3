import json
from pathlib import Path

from PIL import Image

from cerebragloss.demo import run_demo
from cerebragloss.labels import WAVEFORM_CLASSES


def test_demo_simulates_renders_every_montage_annotates_scores_and_synthesizes(tmp_path, capsys):
    result = run_demo(tmp_path, subjects=2, minutes=0.5)
    assert result["errors"] == {}
    assert result["pages"] == 2 * 3 * 4  # subjects x pages x montages
    for montage in ("as_recorded", "average", "longitudinal_bipolar", "transverse_bipolar"):
        pages = sorted((tmp_path / "pages" / montage).glob("*.png"))
        assert len(pages) == 6
        assert Image.open(pages[0]).size == (1344, 756)
        assert len((tmp_path / "pages" / montage / "pages.jsonl").read_text().splitlines()) == 6
    out = capsys.readouterr().out
    assert "look at one:" in out and "SegmentAnnotations; first page: posterior dominant rhythm" in out
    assert Path(tmp_path / "recordings" / "sim000_r0.edf").exists()
    assert Path(tmp_path / "recordings" / "sim000_r0.events.json").exists()
    annotations = [json.loads(line) for line in (tmp_path / "annotations" / "annotations.jsonl").read_text().splitlines()]
    assert len(annotations) == 6 == result["annotated"]
    assert all(a["detector"] == {"ran": True} and "decisions" in a["findings"] for a in annotations)
    assert set(result["detection"]) == set(WAVEFORM_CLASSES)
    truth = sum(s.true_positives + s.false_negatives for s in result["detection"].values())
    assert truth > 0  # the simulated recordings hold events to find
    # step 4: rule and offline-teacher shard sets, one per split, each with its manifest
    from cerebragloss.shards import check_shard_set

    assert result["shards"]["rejected"] == 0
    assert sum(result["shards"]["rules"].values()) == 6 * 5 and sum(result["shards"]["teacher"].values()) == 6
    for name in ("rules", "teacher"):
        for split in result["shards"][name]:
            assert check_shard_set(tmp_path / "shards" / name / split) == []
