"""TUSZ and HMC loaders against small files written in the exact real formats."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cerebragloss.evaluation.clinical import (
    ClinicalReport,
    LabelFileError,
    answer_letter,
    clinical_pages,
    clinical_question,
    hmc_page_labels,
    read_csv_bi,
    read_hmc_scoring,
    tusz_page_labels,
)
from cerebragloss.signals.simulate import SIMULATED_CHANNEL_NAMES, write_edf

CSV_BI = """# version = csv_v1.0.0
# bname = aaaaaajy_s001_t000
# duration = 60.00 secs
# montage_file = $NEDC_NFC/lib/nedc_eas_default_montage.txt
#
channel,start_time,stop_time,label,confidence
TERM,0.0000,12.5000,bckg,1.0000
TERM,12.5000,31.0000,seiz,1.0000
TERM,31.0000,60.0000,bckg,1.0000
"""

HMC_CHANNELS = ["EEG F4-M1", "EEG C4-M1", "EEG O2-M1", "EEG C3-M2", "EMG chin", "EOG E1-M2", "EOG E2-M2", "ECG"]
#: (onset, duration, description) as in an HMC *_sleepscoring.edf: 30 s epochs plus lights events
HMC_SCORING = [(0.0, 0.0, "Lights off"), (0.0, 30.0, "Sleep stage W"), (30.0, 30.0, "Sleep stage N1"), (60.0, 30.0, "Sleep stage N2"),
               (95.0, 25.0, "Sleep stage R"), (120.0, 0.0, "Lights on")]  # fmt: skip


def _eeg(channels: int, seconds: float, sfreq: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sfreq)) / sfreq
    return np.vstack([25 * np.sin(2 * np.pi * 9.5 * t + i) + 8 * rng.standard_normal(len(t)) for i in range(channels)])


@pytest.fixture
def tusz(tmp_path):
    folder = tmp_path / "tusz" / "train" / "aaaaaajy" / "s001_2003" / "02_tcp_le"
    write_edf(folder / "aaaaaajy_s001_t000.edf", _eeg(len(SIMULATED_CHANNEL_NAMES), 60, 250), 250.0, SIMULATED_CHANNEL_NAMES)
    (folder / "aaaaaajy_s001_t000.csv_bi").write_text(CSV_BI)
    write_edf(folder / "aaaaaajy_s001_t001.edf", _eeg(len(SIMULATED_CHANNEL_NAMES), 20, 250), 250.0, SIMULATED_CHANNEL_NAMES)
    return tmp_path / "tusz"


@pytest.fixture
def hmc(tmp_path):
    folder = tmp_path / "hmc"
    write_edf(folder / "SN001.edf", _eeg(len(HMC_CHANNELS), 120, 256), 256.0, HMC_CHANNELS)
    write_edf(folder / "SN001_sleepscoring.edf", np.zeros((1, 120 * 256)), 256.0, ["EEG F4-M1"], annotations=HMC_SCORING)
    return folder


def test_csv_bi_pages_are_seizure_when_half_covered():
    duration, rows = read_csv_bi_text(CSV_BI)
    assert duration == 60.0 and rows[1] == (12.5, 31.0, "seiz")
    # 10-20 s: 7.5 s of seizure; 20-30: 10 s; 30-40: 1 s
    assert tusz_page_labels(rows, 60.0) == [(0.0, "background"), (10.0, "seizure"), (20.0, "seizure"), (30.0, "background"),
                                            (40.0, "background"), (50.0, "background")]  # fmt: skip


def read_csv_bi_text(text: str):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "x.csv_bi"
    path.write_text(text)
    return read_csv_bi(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CSV_BI.replace("TERM,12.5000,31.0000,seiz", "TERM,12.5000,31.0000,fnsz"), ":8: label 'fnsz' is neither"),
        (CSV_BI.replace("31.0000,seiz", "oops,seiz"), ":8: expected channel,start,stop,label"),
        (CSV_BI.replace("channel,start_time", "chan,start"), "no 'channel,start_time,stop_time,label,confidence' header"),
        (CSV_BI.replace("TERM,12.5000,31.0000", "TERM,31.0000,12.5000"), "stop 12.5 <= start 31.0"),
    ],
)
def test_a_broken_csv_bi_names_the_line(text, message):
    with pytest.raises(LabelFileError, match=message):
        read_csv_bi_text(text)


def test_hmc_pages_take_the_stage_of_the_epoch_they_lie_in(hmc):
    stages = read_hmc_scoring(hmc / "SN001_sleepscoring.edf")
    assert [s[2] for s in stages] == ["W", "N1", "N2", "R"]  # lights events ignored
    labels, left_out = hmc_page_labels(stages, 120.0)
    assert labels == [(0.0, "W"), (10.0, "W"), (20.0, "W"), (30.0, "N1"), (40.0, "N1"), (50.0, "N1"), (60.0, "N2"), (70.0, "N2"),
                      (80.0, "N2"), (100.0, "R"), (110.0, "R")]  # fmt: skip
    assert left_out == 1  # 90-100 s crosses into the R epoch that starts at 95 s


def test_tusz_folder_to_labelled_pages(tusz):
    report = ClinicalReport()
    pages = list(clinical_pages("tusz", tusz, report=report))
    assert [label for _, label in pages] == ["background", "seizure", "seizure", "background", "background", "background"]
    assert report.pages == {"background": 4, "seizure": 2}
    (skipped,) = report.skipped.values()  # t001 has no .csv_bi
    assert skipped == "no label file aaaaaajy_s001_t001.csv_bi"
    page, _ = pages[1]
    assert page.segment.montage == "longitudinal_bipolar" and page.segment.start_s == 10.0 and page.image.size == (1344, 756)


def test_hmc_folder_to_labelled_pages_in_the_recorded_montage(hmc):
    report = ClinicalReport()
    pages = list(clinical_pages("hmc", hmc, report=report))
    assert Counter(label for _, label in pages) == {"W": 3, "N1": 3, "N2": 3, "R": 2}
    assert report.left_out_pages == 1 and report.skipped == {}
    segment = pages[0][0].segment
    assert segment.montage == "as_recorded" and len(segment.channels) == 4


def test_questions_and_answers():
    question, options = clinical_question("hmc")
    assert "sleep stage" in question and len(options) == 5
    assert answer_letter("hmc", "R") == "E" and answer_letter("tusz", "seizure") == "B"
    assert len(clinical_question("tusz")[1]) == 2


@pytest.mark.parametrize("task", ["tusz", "hmc"])
def test_cerebragloss_test_scores_a_clinical_task_by_balanced_accuracy(task, tusz, hmc, tmp_path):
    from pathlib import Path

    from cerebragloss.cli import build_cli
    from cerebragloss.model import PixelRange
    from lit_modules import VLMModule

    module = VLMModule(stage=2, preset="tiny", pixels=PixelRange(min_pixels=50176, max_pixels=200704))
    module.configure_model()
    module.model.save_pretrained(tmp_path / "hf")
    module.processor.save_pretrained(tmp_path / "hf")
    conf = Path(__file__).resolve().parents[2] / "conf"
    folder = tusz if task == "tusz" else hmc
    cli = build_cli(["test", "--config", str(conf / f"test_{task}.yaml"), "--config", str(conf / "tiny.yaml"),
                     f"--data.init_args.root={folder.parent}", f"--data.init_args.folder={folder.name}",
                     f"--model.init_args.init_from={tmp_path / 'hf'}", "--model.init_args.max_new_tokens=3",
                     f"--trainer.default_root_dir={tmp_path / 'run'}", "--trainer.enable_progress_bar=false"])  # fmt: skip
    value = float(cli.trainer.callback_metrics[f"test/{task}_balanced_accuracy"])
    assert 0.0 <= value <= 1.0
    pages = 6 if task == "tusz" else 11
    rows = (Path(cli.model.report_path).parent / "rows.jsonl").read_text().splitlines()
    assert len(rows) == pages
    report = Path(cli.model.report_path).read_text()
    assert f"{task.upper()} recall per class" in report
