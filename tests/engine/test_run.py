"""The annotation run: bad files accounted for, killed and resumed, sharded, parallel."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cerebragloss.engine.annotate import SCHEMA
from cerebragloss.engine.run import AnnotateSettings, annotate_recordings, part_name, shard_of
from cerebragloss.signals.simulate import simulate_recordings

TOOL = Path(__file__).resolve().parents[2] / "tools" / "annotate.py"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Good simulated recordings plus a truncated EDF, a CRLF-corrupted EDF, an empty file, an
    EDF with no EEG channel and a notes file, in one folder."""
    folder = tmp_path_factory.mktemp("archive")
    good = simulate_recordings(folder, subjects=3, minutes=0.5, seed=2)
    data = good[0].read_bytes()
    (folder / "truncated_01.edf").write_bytes(data[: len(data) // 2])
    (folder / "crlf_01.edf").write_bytes(data.replace(b"\n", b"\r\n"))
    (folder / "empty_01.edf").write_bytes(b"")
    from cerebragloss.signals.simulate import write_edf
    from tests.conftest import sine

    write_edf(folder / "ecgonly_01.edf", sine(1.2, 30, amplitude=800)[None], 200.0, ["ECG"])
    (folder / "notes.txt").write_text("ward 3, night shift")
    return folder, good


def test_every_file_is_accounted_for_and_the_good_ones_annotated(archive, tmp_path):
    folder, good = archive
    summary = annotate_recordings([folder], tmp_path, progress=False)
    by_name = {Path(item["file"]).name: item for item in summary["files"]}
    assert sorted(by_name) == sorted([p.name for p in good] + ["truncated_01.edf", "crlf_01.edf", "empty_01.edf", "ecgonly_01.edf"])
    for path in good:
        assert by_name[path.name]["status"] == "done" and by_name[path.name]["pages"] == 3
    assert "truncated" in by_name["truncated_01.edf"]["error"]
    assert "CR LF" in by_name["crlf_01.edf"]["error"]
    assert "empty" in by_name["empty_01.edf"]["error"]
    assert by_name["ecgonly_01.edf"]["status"] == "error"
    assert any(p.endswith("notes.txt") for p in summary["ignored"])
    annotations = [json.loads(line) for line in (tmp_path / "annotations.jsonl").read_text().splitlines()]
    assert len(annotations) == 9 == summary["pages"]
    first = annotations[0]
    assert first["schema"] == SCHEMA and first["detector"] == {"ran": False, "note": "waveform events were not detected (no detector weights given)"}
    assert set(first["background"]) == {"channels", "posterior_dominant_rhythm", "symmetry", "summary"}
    assert (tmp_path / "pages" / first["page"]).exists()
    assert json.loads((tmp_path / "summary.json").read_text())["errors"] == 4


def test_a_killed_run_resumes_to_the_same_output_without_duplicates(tmp_path):
    recordings = simulate_recordings(tmp_path / "in", subjects=6, minutes=1, seed=5)
    reference = tmp_path / "reference"
    annotate_recordings(recordings, reference, progress=False)

    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, str(TOOL), str(tmp_path / "in"), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "parts").glob("*.json"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list((out / "parts").glob("*.json")))
    assert 2 <= finished < 6, "the run was not killed midway"
    assert not (out / "annotations.jsonl").exists() and not (out / "summary.json").exists()

    summary = annotate_recordings([tmp_path / "in"], out, progress=False)
    assert sum(bool(item.get("resumed")) for item in summary["files"]) == finished
    assert (out / "annotations.jsonl").read_text() == (reference / "annotations.jsonl").read_text()
    keys = [json.loads(line)["key"] for line in (out / "annotations.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 36
    assert sorted(p.name for p in (out / "pages").iterdir()) == sorted(p.name for p in (reference / "pages").iterdir())


def test_shards_cover_the_archive_once_and_workers_give_the_same_output(archive, tmp_path):
    folder, good = archive
    files = sorted(folder.glob("*.edf"))
    shards = [shard_of(files, 3, i) for i in range(3)]
    assert sorted(p for shard in shards for p in shard) == sorted(files)
    assert shard_of(list(reversed(files)), 3, 1) == shards[1]
    with pytest.raises(ValueError, match="shard-index"):
        shard_of(files, 2, 2)

    for index in range(2):
        annotate_recordings(good, tmp_path / "sharded", num_shards=2, shard_index=index, progress=False)
    pieces = sorted((tmp_path / "sharded").glob("annotations-*-of-00002.jsonl"))
    assert len(pieces) == 2
    parallel = tmp_path / "parallel"
    annotate_recordings(good, parallel, workers=2, progress=False)
    merged = sorted(line for piece in pieces for line in piece.read_text().splitlines())
    assert merged == sorted((parallel / "annotations.jsonl").read_text().splitlines())


def test_part_names_keep_same_stem_recordings_apart(tmp_path):
    assert part_name(tmp_path / "a" / "night1.edf") != part_name(tmp_path / "b" / "night1.edf")


def test_the_tool_with_the_default_detector_records_its_events(archive, tmp_path):
    folder, good = archive
    result = subprocess.run([sys.executable, str(TOOL), str(good[0]), "--out", str(tmp_path), "--detector", "default",
                             "--montage", "transverse_bipolar", "--set", "detector.confidence=0.05"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    annotations = [json.loads(line) for line in (tmp_path / "annotations.jsonl").read_text().splitlines()]
    assert all(a["detector"] == {"ran": True, "coverage": {"within_training": True, "outside": []}} and a["montage"] == "transverse_bipolar" for a in annotations)
    events = [e for a in annotations for e in a["events"]]
    assert events and all(set(e["channels"]) <= set(annotations[0]["channels"]) for e in events)
    settings = (tmp_path / "annotate_settings.yaml").read_text()
    assert "confidence: 0.05" in settings and AnnotateSettings().detector.confidence == 0.25
