"""tools/simulate.py and tools/detector_dataset.py as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_simulate_then_make_a_dataset(tmp_path):
    result = _run(TOOLS / "simulate.py", "--out", tmp_path / "sim", "--subjects", "3", "--minutes", "0.5",
                  "--seed", "4", "--prefix", "pt", "--set", "events_per_page=3")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "sim").iterdir()) == [
        f"pt00{i}_r0.{ext}" for i in range(3) for ext in ("edf", "events.json")
    ]
    result = _run(TOOLS / "detector_dataset.py", tmp_path / "sim", "--out", tmp_path / "data", "--val-fraction", "0.34")
    assert result.returncode == 0, result.stderr
    assert "validation subjects: pt" in result.stdout and "spike" in result.stdout
    report = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert report["pages"] == {"train": 6, "val": 3}


def test_simulate_refuses_a_mistyped_setting(tmp_path):
    result = _run(TOOLS / "simulate.py", "--out", tmp_path, "--set", "events_per_pgae=3")
    assert result.returncode == 2 and "events_per_pgae" in result.stderr


def test_hybrid_mode_reports_a_recording_without_electrodes(tmp_path, write_edf):
    from tests.conftest import sine

    good = write_edf({e: sine(10, 30, amplitude=30, phase=i) for i, e in enumerate(["Fp1", "F7", "T7", "C3", "O1"])}, name="real01_a.edf")
    ecg_only = write_edf({"ECG": sine(1, 30, amplitude=500)}, name="ecg02_a.edf")
    result = _run(TOOLS / "simulate.py", "--out", tmp_path / "hybrid", "--background", good, ecg_only, "--state", "awake")
    assert result.returncode == 1
    assert "ok     " in result.stdout and "ecg02_a.edf" in result.stderr
    truth = json.loads((tmp_path / "hybrid" / "real01_a_hybrid.events.json").read_text())
    assert truth["background_source"] == "real01_a.edf"
    assert {c for e in truth["events"] for c in e["channels"]} <= {"Fp1", "F7", "T7", "C3", "O1"}


def test_detect_tool_writes_every_page_and_reports_bad_inputs(tmp_path):
    from cerebragloss.signals.simulate import simulate_recordings

    recording = simulate_recordings(tmp_path / "sim", subjects=1, minutes=0.5, seed=1)[0]
    result = _run(TOOLS / "detect.py", recording, tmp_path / "missing.edf", "--out", tmp_path / "found", "--draw", "--confidence", "0.05")
    assert result.returncode == 1 and "missing.edf" in result.stderr
    assert "ok     " in result.stdout and "3 pages" in result.stdout
    pages = [json.loads(line) for line in (tmp_path / "found" / "detections.jsonl").read_text().splitlines()]
    assert [p["start_s"] for p in pages] == [0.0, 10.0, 20.0]
    drawn = list((tmp_path / "found" / "pages").glob("*.png"))
    assert len(drawn) == sum(1 for p in pages if p["events"])
