"""The tools that take a montage draw each recording in the best one it allows, and say which."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cerebragloss.signals import TEN_TWENTY
from tests.conftest import sine

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture
def two_recordings(tmp_path, write_edf):
    """A full 10-20 recording and a one-channel sleep-style recording (C3 only), 20 s each."""
    full = write_edf({e: sine(9 + i % 3, 20, amplitude=30, phase=i) for i, e in enumerate(TEN_TWENTY)}, name="clinic_01.edf")
    single = write_edf({"C3-A2": sine(13, 20, amplitude=15)}, name="sleep_01.edf")
    folder = tmp_path / "recordings"
    folder.mkdir()
    for path in (full, single):
        path.rename(folder / path.name)
    return folder


def _run(tool, *args):
    result = subprocess.run([sys.executable, str(TOOLS / tool), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_annotate_chooses_per_recording_and_records_it(two_recordings, tmp_path):
    out = tmp_path / "annotations"
    stdout = _run("annotate.py", two_recordings, "--out", out)
    assert "clinic_01.edf: 2 pages; montage longitudinal_bipolar (double banana: 18 of 18 derivations" in stdout
    assert "sleep_01.edf: 2 pages; montage as_recorded (no neighbouring pair for a double banana among C3" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert {Path(f["file"]).name: f["montage"] for f in summary["files"]} == {
        "clinic_01.edf": "longitudinal_bipolar", "sleep_01.edf": "as_recorded",
    }  # fmt: skip
    assert all(f["montage_reason"] for f in summary["files"]) and summary["settings"]["montage"] == "auto"
    pages = [json.loads(line) for line in (out / "annotations.jsonl").read_text().splitlines()]
    assert {(p["recording"], p["montage"], len(p["channels"])) for p in pages} == {
        ("clinic_01", "longitudinal_bipolar", 18), ("sleep_01", "as_recorded", 1),
    }  # fmt: skip


def test_render_and_detect_default_to_the_best_montage_and_a_name_still_wins(two_recordings, tmp_path):
    stdout = _run("render.py", two_recordings, "--out", tmp_path / "pages", "--pages", "1")
    assert "montage longitudinal_bipolar (double banana" in stdout and "montage as_recorded (no neighbouring pair" in stdout
    montages = {json.loads(line)["recording"]: json.loads(line)["montage"] for line in (tmp_path / "pages" / "pages.jsonl").read_text().splitlines()}
    assert montages == {"clinic_01": "longitudinal_bipolar", "sleep_01": "as_recorded"}

    stdout = _run("detect.py", two_recordings / "sleep_01.edf", "--out", tmp_path / "detections")
    assert "sleep_01.edf: 2 pages;" in stdout and "montage as_recorded (no neighbouring pair" in stdout

    stdout = _run("render.py", two_recordings / "clinic_01.edf", "--out", tmp_path / "average", "--pages", "1", "--montage", "average")
    assert "montage average (as asked)" in stdout
    (line,) = (tmp_path / "average" / "pages.jsonl").read_text().splitlines()
    assert json.loads(line)["channels"][0] == "Fp1-AVG" and np.isfinite(json.loads(line)["layout"]["row_height"])
