"""tools/interpret.py on a real recording with an exported tiny checkpoint, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _export_tiny(target: Path) -> Path:
    from cerebragloss.model import PixelRange
    from lit_modules import VLMModule

    module = VLMModule(stage=2, preset="tiny", pixels=PixelRange(min_pixels=32 * 784, max_pixels=64 * 784))
    module.configure_model()
    module.model.save_pretrained(target)
    module.processor.save_pretrained(target)
    return target


def test_interpret_a_real_page_and_chat(shared_eeg, tmp_path):
    model = _export_tiny(tmp_path / "hf")
    recording = shared_eeg / "eegmat" / "Subject00_1.edf"
    result = subprocess.run(
        [sys.executable, str(TOOLS / "interpret.py"), str(recording), "--start", "20", "--model", str(model), "--chat",
         "--max-new-tokens", "4", "--out", str(tmp_path / "out")],
        input="Where is the maximum?\nAny artifacts?\n\n", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "page Subject00_1_20s: 18 channels, montage longitudinal_bipolar (double banana" in result.stdout
    assert "background: posterior dominant rhythm" in result.stdout
    assert result.stdout.count("model> ") == 3  # the description and two chat turns
    assert Image.open(tmp_path / "out" / "Subject00_1_20s_detections.png").size == (1344, 756)
    annotation = json.loads((tmp_path / "out" / "Subject00_1_20s.annotation.json").read_text())
    assert annotation["start_s"] == 20.0 and annotation["detector"] == {"ran": True, "coverage": {"within_training": True, "outside": []}}


def test_interpret_names_a_page_outside_the_recording(shared_eeg, tmp_path):
    model = _export_tiny(tmp_path / "hf")
    recording = shared_eeg / "eegmat" / "Subject00_1.edf"
    result = subprocess.run([sys.executable, str(TOOLS / "interpret.py"), str(recording), "--start", "99999", "--model", str(model)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2 and "outside the recording" in result.stderr


def test_interpret_a_one_channel_sleep_recording_without_a_model(shared_eeg, tmp_path):
    # One C3 channel: the default montage is the only one possible, and without --model the tool
    # stops after the page and the engine's findings.
    result = subprocess.run(
        [sys.executable, str(TOOLS / "interpret.py"), str(shared_eeg / "sleep" / "spinky_c3_train.edf"), "--start", "30",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "page spinky_c3_train_30s: 1 channels, montage as_recorded (no neighbouring pair" in result.stdout
    assert "background: " in result.stdout and "waveforms kept after cleaning: " in result.stdout
    assert "model>" not in result.stdout and "no --model given" in result.stdout
    annotation = json.loads((tmp_path / "out" / "spinky_c3_train_30s.annotation.json").read_text())
    assert annotation["montage"] == "as_recorded" and annotation["channels"] == ["C3"]
    # read in its recording, as annotate reads it: staged over the 20 minutes, transients over the pages around it
    assert annotation["sleep_state"]["source"] == "yasa_staging" and annotation["sleep_signal"]["context_s"] > 600
    page = Image.open(tmp_path / "out" / "spinky_c3_train_30s.png")
    assert page.info["montage"] == "as_recorded" and page.size[0] == 1344
