"""Labelled recordings -> a YOLO dataset (``images/``, ``labels/``, ``data.yaml``) split by subject.

Labels come from, in order of preference for each recording:
1. a simulator truth file beside it (``<stem>.events.json``),
2. rows of an expert CSV (``recording, channels, start_s, end_s, class``),
3. its own EDF+ annotations whose text names a waveform class (``spike C3 C4``, ``K complex``).
A recording with none of these is reported as skipped, never silently left out.

Pages are rendered exactly as the engine renders them (same ``PageSettings``), so the detector
trains on what it will see.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cerebragloss.detection.truth import (
    BoxSettings,
    electrodes_to_channels,
    label_boxes,
    truth_boxes,
)
from cerebragloss.labels import WAVEFORM_CLASSES

#: Spellings experts and vendors use for the 9 classes (lower-case, punctuation as spaces).
CLASS_ALIASES: dict[str, str] = {
    "spike": "spike",
    "spikes": "spike",
    "sharp": "sharp_wave",
    "sharp wave": "sharp_wave",
    "sharp waves": "sharp_wave",
    "spike and slow wave": "spike_and_slow_wave",
    "spike and wave": "spike_and_slow_wave",
    "spike wave": "spike_and_slow_wave",
    "sw": "spike_and_slow_wave",
    "sharp and slow wave": "sharp_and_slow_wave",
    "sharp slow wave": "sharp_and_slow_wave",
    "polyspike": "polyspike",
    "polyspikes": "polyspike",
    "poly spike": "polyspike",
    "k complex": "k_complex",
    "kc": "k_complex",
    "sleep spindle": "sleep_spindle",
    "spindle": "sleep_spindle",
    "vertex wave": "vertex_wave",
    "vertex sharp wave": "vertex_wave",
    "v wave": "vertex_wave",
    "posts": "posts",
    "positive occipital sharp transient": "posts",
    "positive occipital sharp transients of sleep": "posts",
}


def canonical_class(text: str) -> str | None:
    """The waveform class a label names (``"K-complex"`` -> ``k_complex``), or None."""
    key = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
    if key.replace(" ", "_") in WAVEFORM_CLASSES:
        return key.replace(" ", "_")
    return CLASS_ALIASES.get(key)


def _split_channels(text: str) -> list[str]:
    return [c for c in re.split(r"[;,\s]+", text.strip()) if c]


def read_label_csv(path: str | Path) -> tuple[dict[str, list[dict]], list[str]]:
    """Expert labels per recording id from a CSV with columns
    ``recording, channels, start_s, end_s, class`` (channels separated by ``;``, ``,`` or spaces;
    empty = every channel). Returns the labels and one problem string per unusable row."""
    labels: dict[str, list[dict]] = {}
    problems = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"recording", "channels", "start_s", "end_s", "class"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            name = canonical_class(row["class"])
            try:
                start, end = float(row["start_s"]), float(row["end_s"])
            except ValueError:
                problems.append(f"{path}:{line}: start_s/end_s are not numbers")
                continue
            if name is None:
                problems.append(f"{path}:{line}: unknown class {row['class']!r}")
            elif end <= start:
                problems.append(f"{path}:{line}: end_s {end} is not after start_s {start}")
            else:
                record = {"class": name, "channels": _split_channels(row["channels"]), "onset_s": start, "offset_s": end}
                labels.setdefault(Path(row["recording"]).stem, []).append(record)
    return labels, problems


def labels_from_annotations(annotations) -> list[dict]:
    """EDF+ annotations that name a waveform class, optionally followed by channels:
    ``"spike"``, ``"Spike: C3 C4"``, ``"K complex @ Fz,Cz"``. A zero-length annotation is
    given 0.2 s around its onset (readers often mark a single instant)."""
    labels = []
    for annotation in annotations:
        text = annotation.description
        head, tail = re.split(r"\s*[:@]\s*", text, maxsplit=1) if re.search(r"[:@]", text) else (text, "")
        name = canonical_class(head)
        channels = _split_channels(tail)
        if name is None:
            # "spike C3 C4": try the longest prefix of words that names a class.
            words = text.split()
            for cut in range(len(words), 0, -1):
                name = canonical_class(" ".join(words[:cut]))
                if name:
                    channels = words[cut:]
                    break
        if name is None:
            continue
        onset, duration = float(annotation.onset_s), float(annotation.duration_s)
        if duration <= 0:
            onset, duration = onset - 0.1, 0.2
        labels.append({"class": name, "channels": channels, "onset_s": onset, "offset_s": onset + duration})
    return labels


def split_subjects(subjects: list[str], val_fraction: float, seed: int) -> dict[str, str]:
    """Subject -> ``train``/``val`` (``cerebragloss.shards.split_subjects``: a seeded shuffle, no
    subject on both sides). ``val_fraction=1`` makes a held-out test set (everything in ``val``)."""
    from cerebragloss.shards import split_subjects as split

    return split(subjects, {"val": val_fraction}, seed)


@dataclass
class DatasetReport:
    """What a dataset run wrote, per split and class, and every recording it could not use."""

    pages: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    boxes: dict[str, dict[str, int]] = field(default_factory=lambda: {"train": {}, "val": {}})
    subjects: dict[str, str] = field(default_factory=dict)
    label_source: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'class':<22} {'train':>7} {'val':>7}"]
        for name in WAVEFORM_CLASSES:
            lines.append(f"{name:<22} {self.boxes['train'].get(name, 0):>7} {self.boxes['val'].get(name, 0):>7}")
        lines.append(f"{'pages':<22} {self.pages['train']:>7} {self.pages['val']:>7}")
        return "\n".join(lines)


def write_yolo_dataset(
    inputs: list[str | Path],
    out_dir: str | Path,
    *,
    labels_csv: str | Path | None = None,
    montage: str = "longitudinal_bipolar",
    val_fraction: float = 0.2,
    seed: int = 0,
    page_settings=None,
    box_settings: BoxSettings | None = None,
    progress: bool = True,
) -> DatasetReport:
    """Render every page of every labelled recording and write a YOLO detection dataset.

    ``out_dir`` gets ``images/{train,val}/<page>.png``, ``labels/{train,val}/<page>.txt`` (empty
    for a page without events: ultralytics reads it as background), ``data.yaml`` (relative, so
    the folder can move), ``boxes.jsonl`` (each page's boxes with channels and times, subject,
    split and Layout, for event-level evaluation) and ``dataset.json`` (the report).
    """
    import yaml
    from tqdm.auto import tqdm

    from cerebragloss.render import render_segment
    from cerebragloss.settings import PageSettings, write_settings
    from cerebragloss.signals import RecordingError, read_recording, segments_from_recording
    from cerebragloss.signals.io import expand_inputs
    from cerebragloss.signals.simulate import truth_path

    page_settings = page_settings or PageSettings()
    box_settings = box_settings or BoxSettings()
    out_dir = Path(out_dir)
    files, problems = expand_inputs(list(inputs))
    report = DatasetReport(problems=list(problems))
    expert: dict[str, list[dict]] = {}
    if labels_csv is not None:
        expert, csv_problems = read_label_csv(labels_csv)
        report.problems += csv_problems

    recordings = []
    for path in files:
        try:
            recordings.append(read_recording(path))
        except RecordingError as error:
            report.skipped[str(path)] = str(error)
    split = split_subjects([r.subject for r in recordings], val_fraction, seed)
    report.subjects = split
    for name in ("train", "val"):
        (out_dir / "images" / name).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / name).mkdir(parents=True, exist_ok=True)

    index_lines = []
    for recording in tqdm(recordings, desc="dataset", unit="recording", disable=not progress):
        truth_file = truth_path(recording.path)
        if truth_file.exists():
            truth = json.loads(truth_file.read_text())
            source, events = "simulator truth", truth["events"]
        elif recording.recording in expert:
            source, events = "csv", expert[recording.recording]
        else:
            source, events = "edf annotations", labels_from_annotations(recording.annotations)
            if not events:
                report.skipped[str(recording.path)] = "no labels: no truth file, no CSV rows, no annotation naming a waveform class"
                continue
        report.label_source[recording.recording] = source
        part = split[recording.subject]
        first_layout = None
        for segment in segments_from_recording(
            recording, montage, filters=page_settings.filters, flag_settings=page_settings.flags
        ):  # fmt: skip
            page = render_segment(segment, page_settings.render)
            first_layout = first_layout or page.layout
            if source == "simulator truth":
                boxes = truth_boxes(events, page.layout, segment.start_s, box_settings)
            else:
                boxes = label_boxes(events, page.layout, segment.start_s, box_settings)
            page.save(out_dir / "images" / part / f"{segment.key}.png")
            text = "".join(b.yolo_line(page.layout.width, page.layout.height) + "\n" for b in boxes)
            (out_dir / "labels" / part / f"{segment.key}.txt").write_text(text)
            report.pages[part] += 1
            for box in boxes:
                report.boxes[part][box.label] = report.boxes[part].get(box.label, 0) + 1
            index_lines.append(json.dumps({
                "page": segment.key, "split": part, "subject": recording.subject, "recording": recording.recording,
                "start_s": segment.start_s, "layout": page.layout.to_dict(), "boxes": [b.to_dict() for b in boxes],
            }))  # fmt: skip

        if source != "simulator truth" and first_layout is not None:
            for label in events:
                if label["channels"] and not electrodes_to_channels(label["channels"], first_layout):
                    report.problems.append(
                        f"{recording.recording}: {label['class']} at {label['onset_s']:.2f} s on "
                        f"{' '.join(label['channels'])}: no such channel in the {montage} montage of this recording"
                    )

    (out_dir / "boxes.jsonl").write_text("".join(line + "\n" for line in index_lines))
    data = {"train": "images/train", "val": "images/val", "names": dict(enumerate(WAVEFORM_CLASSES))}
    (out_dir / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    write_settings(page_settings, out_dir / "page_settings.yaml")
    (out_dir / "dataset.json").write_text(json.dumps({
        "montage": montage, "val_fraction": val_fraction, "seed": seed, "pages": report.pages,
        "boxes": report.boxes, "subjects": report.subjects, "label_source": report.label_source,
        "skipped": report.skipped, "problems": report.problems,
        "box_settings": box_settings.__dict__,
    }, indent=1))  # fmt: skip
    return report
