"""Clinical tasks as multiple-choice questions on 10-second pages: seizure detection (TUSZ) and
sleep staging (HMC), scored by balanced accuracy.

- **TUSZ** (TUH EEG Seizure Corpus v2): ``<name>.edf`` with TUH channel names (``EEG FP1-REF``)
  beside ``<name>.csv_bi``, the term-based binary labels::

      # version = csv_v1.0.0
      # bname = aaaaaajy_s001_t000
      # duration = 1750.00 secs
      #
      channel,start_time,stop_time,label,confidence
      TERM,42.2786,81.7760,seiz,1.0000

  A page is ``seizure`` when seizure covers at least ``min_seizure_fraction`` of it, else
  ``background``.
- **HMC** (Haaglanden Medisch Centrum sleep staging, PhysioNet): ``SN001.edf`` (EEG F4-M1, C4-M1,
  O2-M1, C3-M2, EOG, EMG, ECG) beside ``SN001_sleepscoring.edf``, EDF+ annotations
  ``Sleep stage W|N1|N2|N3|R`` on 30 s epochs (plus ``Lights off``/``on`` and the like, ignored).
  Each 10-second page inside a scored epoch takes the epoch's stage; pages across an epoch
  boundary or outside scoring are left out (and counted).

``clinical_pages`` reads a folder, renders the pages and yields them with their label;
``clinical_question`` is the prompt and options the model gets; the answer is parsed with
``metrics.parse_choice`` and scored with ``metrics.balanced_accuracy``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TUSZ_CLASSES: tuple[str, ...] = ("background", "seizure")
HMC_STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "R")
TASKS = ("tusz", "hmc")

QUESTIONS = {
    "tusz": ("Does this EEG page show an electrographic seizure?", ["No: background activity without a seizure", "Yes: seizure activity"]),
    "hmc": ("Which sleep stage does this EEG page show?", ["Wake (W)", "N1", "N2", "N3", "REM (R)"]),
}
_HMC_STAGE = re.compile(r"^sleep stage\s*(W|N1|N2|N3|R)\s*$", re.IGNORECASE)


class LabelFileError(ValueError):
    """A label file that does not follow its format; the message names the file and the line."""


@dataclass
class ClinicalSettings:
    page_s: float = 10.0
    min_seizure_fraction: float = 0.5
    #: TUSZ is read in the double banana (the TCP montage TUH annotates on); HMC has 4 mastoid-referenced channels
    montage_tusz: str = "longitudinal_bipolar"
    montage_hmc: str = "as_recorded"


@dataclass
class ClinicalReport:
    pages: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    left_out_pages: int = 0


def read_csv_bi(path: str | Path) -> tuple[float | None, list[tuple[float, float, str]]]:
    """(duration from the header or None, [(start_s, stop_s, label)]) of a TUSZ ``.csv_bi``."""
    path = Path(path)
    duration = None
    rows: list[tuple[float, float, str]] = []
    lines = path.read_text().splitlines()
    body = []
    for number, line in enumerate(lines, 1):
        if line.startswith("#"):
            match = re.match(r"#\s*duration\s*=\s*([\d.]+)", line)
            if match:
                duration = float(match.group(1))
            continue
        if line.strip():
            body.append((number, line))
    if not body or [c.strip() for c in body[0][1].split(",")][:4] != ["channel", "start_time", "stop_time", "label"]:
        raise LabelFileError(f"{path}: no 'channel,start_time,stop_time,label,confidence' header")
    for number, row in body[1:]:
        fields = next(csv.reader([row]))
        try:
            start, stop, label = float(fields[1]), float(fields[2]), fields[3].strip().lower()
        except (IndexError, ValueError):
            raise LabelFileError(f"{path}:{number}: expected channel,start,stop,label,confidence, got {row!r}") from None
        if label not in ("seiz", "bckg"):
            raise LabelFileError(f"{path}:{number}: label {label!r} is neither 'seiz' nor 'bckg'")
        if stop <= start:
            raise LabelFileError(f"{path}:{number}: stop {stop} <= start {start}")
        rows.append((start, stop, label))
    return duration, rows


def tusz_page_labels(rows: list[tuple[float, float, str]], duration_s: float, settings: ClinicalSettings | None = None) -> list[tuple[float, str]]:
    """(page start, ``seizure``|``background``) for every whole page of a recording."""
    settings = settings or ClinicalSettings()
    seizures = [(a, b) for a, b, label in rows if label == "seiz"]
    pages = []
    start = 0.0
    while start + settings.page_s <= duration_s + 1e-6:
        end = start + settings.page_s
        covered = sum(max(0.0, min(end, b) - max(start, a)) for a, b in seizures)
        pages.append((start, "seizure" if covered >= settings.min_seizure_fraction * settings.page_s else "background"))
        start = end
    return pages


def read_hmc_scoring(path: str | Path) -> list[tuple[float, float, str]]:
    """(onset_s, duration_s, stage) of every ``Sleep stage X`` annotation of an HMC scoring file."""
    import mne

    try:
        annotations = mne.read_annotations(str(path))
    except (ValueError, OSError, RuntimeError) as error:
        raise LabelFileError(f"{path}: not readable as EDF+ annotations ({error})") from None
    stages = []
    for onset, duration, description in zip(annotations.onset, annotations.duration, annotations.description, strict=True):
        match = _HMC_STAGE.match(str(description))
        if match:
            stages.append((float(onset), float(duration) or 30.0, match.group(1).upper()))
    if not stages:
        raise LabelFileError(f"{path}: no 'Sleep stage W/N1/N2/N3/R' annotations")
    return stages


def hmc_page_labels(stages: list[tuple[float, float, str]], duration_s: float, settings: ClinicalSettings | None = None) -> tuple[list[tuple[float, str]], int]:
    """(page start, stage) for every whole page inside one scored epoch; and how many pages were
    left out (across an epoch boundary or unscored)."""
    settings = settings or ClinicalSettings()
    pages, left_out = [], 0
    start = 0.0
    while start + settings.page_s <= duration_s + 1e-6:
        end = start + settings.page_s
        inside = [stage for onset, length, stage in stages if onset - 1e-6 <= start and end <= onset + length + 1e-6]
        if inside:
            pages.append((start, inside[0]))
        else:
            left_out += 1
        start = end
    return pages, left_out


def label_file_of(task: str, recording: Path) -> Path:
    if task == "tusz":
        return recording.with_suffix(".csv_bi")
    if task == "hmc":
        return recording.with_name(f"{recording.stem}_sleepscoring.edf")
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def recordings_of(task: str, folder: str | Path) -> list[Path]:
    """The task's recordings in a folder tree (HMC's scoring files are not recordings)."""
    found = sorted(p for p in Path(folder).rglob("*.edf") if not p.stem.endswith("_sleepscoring"))
    return found


def clinical_pages(task: str, folder: str | Path, settings: ClinicalSettings | None = None, report: ClinicalReport | None = None,
                   page_settings=None, montage: str | None = None) -> Iterator[tuple[object, str]]:  # fmt: skip
    """(rendered Page, label) of every labelled page of every recording of the task in ``folder``,
    drawn with ``page_settings`` (filters, flags, geometry: the model's, see
    ``settings.page_for_model``) in ``montage`` (default: the task's); a recording without its
    label file or with a broken one (or without the electrodes of the montage) is skipped with the reason."""
    from cerebragloss.render import render_segment
    from cerebragloss.settings import PageSettings
    from cerebragloss.signals import (
        MontageError,
        RecordingError,
        read_recording,
        segments_from_recording,
    )

    settings = settings or ClinicalSettings()
    page_settings = page_settings or PageSettings()
    report = report if report is not None else ClinicalReport()
    montage = montage or (settings.montage_tusz if task == "tusz" else settings.montage_hmc)
    for path in recordings_of(task, folder):
        labels_path = label_file_of(task, path)
        if not labels_path.exists():
            report.skipped[str(path)] = f"no label file {labels_path.name}"
            continue
        try:
            recording = read_recording(path)
            if task == "tusz":
                _, rows = read_csv_bi(labels_path)
                labels = tusz_page_labels(rows, recording.duration_s, settings)
            else:
                labels, left_out = hmc_page_labels(read_hmc_scoring(labels_path), recording.duration_s, settings)
                report.left_out_pages += left_out
            by_start = dict(labels)
            for segment in segments_from_recording(recording, montage, duration_s=settings.page_s, filters=page_settings.filters,
                                                   flag_settings=page_settings.flags):  # fmt: skip
                label = by_start.get(round(segment.start_s, 6))
                if label is None:
                    continue
                report.pages[label] = report.pages.get(label, 0) + 1
                yield render_segment(segment, page_settings.render), label
        except (RecordingError, MontageError, LabelFileError, ValueError, OSError) as error:
            report.skipped[str(path)] = str(error)


def clinical_question(task: str) -> tuple[str, list[str]]:
    """The question and options the model is asked (the answer is the label's option)."""
    return QUESTIONS[task][0], list(QUESTIONS[task][1])


def answer_letter(task: str, label: str) -> str:
    classes = TUSZ_CLASSES if task == "tusz" else HMC_STAGES
    return "ABCDE"[classes.index(label)]
