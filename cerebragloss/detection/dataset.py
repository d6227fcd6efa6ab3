"""Labelled recordings -> a YOLO dataset (``images/``, ``labels/``, ``data.yaml``) split by subject.

Labels come from, in order of preference for each recording:
1. a simulator truth file beside it (``<stem>.events.json``),
2. rows of an expert CSV (``recording, channels, start_s, end_s, class``),
3. its own EDF+ annotations whose text names a waveform class (``spike C3 C4``, ``K complex``).
A recording with none of these is reported as skipped, never silently left out.

Pages are rendered exactly as the engine renders them (same ``PageSettings``), so the detector
trains on what it will see. With a :class:`PageVariety` the pages of each recording are drawn in
varied montages, electrode subsets (1 to all electrodes: few-channel recordings) and sensitivities,
because the engine draws all of those; the ranges covered are written to ``dataset.json`` and go
with the weights (``coverage``), so the detector can say when a page is outside them.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cerebragloss.detection.truth import (
    BoxSettings,
    electrodes_to_channels,
    label_boxes,
    page_background,
    truth_boxes,
)
from cerebragloss.labels import WAVEFORM_CLASSES

#: the length of a dataset page (the engine's page)
PAGE_S = 10.0

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
    """Subject -> ``train``/``val`` (``cerebragloss.shards.detector_split``: derived from the VLM's
    seeded subject split with default ``SplitSettings(seed=seed)``, no subject on both sides, the
    VLM's bench subjects always in ``val``). ``val_fraction=1`` makes a held-out test set."""
    from cerebragloss.shards import detector_split

    return detector_split(subjects, val_fraction, seed)


@dataclass
class PageVariety:
    """How the pages of a dataset vary (``tools/detector_dataset.py --vary``).

    Each recording gets ``variants`` page variants - a montage, a subset of its electrodes and a
    sensitivity - and its pages are dealt out to them in turn, each page drawn in
    ``variants_per_page`` of them. A subset is the ``k`` electrodes nearest to a random one on the
    template head (a few-channel recording covers one region, as a sleep montage's C3/C4/O1 do),
    with ``k`` drawn from ``electrode_counts`` and capped by what the recording has. ``grid``
    replaces the random draw by every (montage, electrode count) pair the recording allows, in
    order: the held-out table's cells. ``random_offsets`` cuts each variant's pages from its own
    start in [0, one page) instead of from 0 s.
    """

    montages: list[str] = field(default_factory=lambda: ["as_recorded", "average", "longitudinal_bipolar", "transverse_bipolar"])
    electrode_counts: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 6, 8, 12, 19])
    #: clinical sensitivities; 5-15 uV/mm is the range the engine may be set to
    sensitivities_uv_per_mm: list[float] = field(default_factory=lambda: [5.0, 7.0, 10.0, 15.0])
    variants: int = 6
    variants_per_page: int = 1
    grid: bool = False
    seed: int = 0
    #: a recording reaches the engine cut wherever its lab started it, and the detector's boxes on
    #: real background waves came and went with where the page cut them (README, second look):
    #: each variant's pages start at a random time in the first page, so one background is seen
    #: under several cuts. Off in the held-out grid, whose pages stay comparable between runs
    random_offsets: bool = False


@dataclass(frozen=True)
class PageVariant:
    montage: str
    electrodes: tuple[str, ...]
    sensitivity_uv_per_mm: float
    #: where the variant's first page starts in the recording
    offset_s: float = 0.0


def _nearest_electrodes(electrodes: list[str], count: int, rng) -> list[str]:
    from cerebragloss.signals.simulate import electrode_positions

    positions = electrode_positions(electrodes)
    if not positions:
        return []
    names = list(positions)
    centre = positions[names[rng.integers(len(names))]]
    order = sorted(names, key=lambda n: float(np.sum((positions[n] - centre) ** 2)))
    return order[:count]


def page_variants(electrodes: list[str], variety: PageVariety, rng) -> list[PageVariant]:
    """The variants a recording with these electrodes is drawn in (none when none is possible)."""
    from cerebragloss.signals.montage import MIN_AVERAGE_ELECTRODES, derivations_for

    def usable(montage: str, subset: list[str]) -> bool:
        derivations, _ = derivations_for(montage, subset)
        return len(derivations) >= (MIN_AVERAGE_ELECTRODES if montage == "average" else 1)

    def draw(montage: str, count: int) -> PageVariant | None:
        for _ in range(30):  # another region of the head may give this montage a pair
            subset = _nearest_electrodes(electrodes, count, rng)
            if usable(montage, subset):
                sensitivity = float(variety.sensitivities_uv_per_mm[rng.integers(len(variety.sensitivities_uv_per_mm))])
                return PageVariant(montage, tuple(subset), sensitivity)
        return None

    present = len(electrode_positions_of(electrodes))
    counts = sorted({min(k, present) for k in variety.electrode_counts})
    if variety.grid:
        cells = [draw(m, k) for k in counts for m in variety.montages]
        return [c for c in cells if c is not None]
    variants = []
    for _ in range(variety.variants * 10):
        if len(variants) == variety.variants:
            break
        variant = draw(variety.montages[rng.integers(len(variety.montages))], counts[rng.integers(len(counts))])
        if variant is not None:
            variants.append(variant)
    return variants


def electrode_positions_of(electrodes: list[str]) -> list[str]:
    from cerebragloss.signals.simulate import electrode_positions

    return list(electrode_positions(electrodes))


@dataclass
class DatasetReport:
    """What a dataset run wrote, per split and class, and every recording it could not use."""

    pages: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    boxes: dict[str, dict[str, int]] = field(default_factory=lambda: {"train": {}, "val": {}})
    subjects: dict[str, str] = field(default_factory=dict)
    label_source: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    montages: set[str] = field(default_factory=set)
    rows: set[int] = field(default_factory=set)
    sensitivities: set[float] = field(default_factory=set)
    px_per_s: set[float] = field(default_factory=set)

    def note_page(self, montage: str, rows: int, sensitivity_uv_per_mm: float, px_per_s: float) -> None:
        self.montages.add(montage)
        self.rows.add(rows)
        self.sensitivities.add(sensitivity_uv_per_mm)
        self.px_per_s.add(round(px_per_s, 3))

    def coverage(self) -> dict:
        """What the pages span: the detector trained here is within its training on such pages."""
        if not self.rows:
            return {}
        return {
            "montages": sorted(self.montages),
            "rows": [min(self.rows), max(self.rows)],
            "sensitivity_uv_per_mm": [min(self.sensitivities), max(self.sensitivities)],
            "px_per_s": [min(self.px_per_s), max(self.px_per_s)],
        }

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
    variety: PageVariety | None = None,
    progress: bool = True,
) -> DatasetReport:
    """Render every page of every labelled recording and write a YOLO detection dataset.

    ``out_dir`` gets ``images/{train,val}/<page>.png``, ``labels/{train,val}/<page>.txt`` (empty
    for a page without events: ultralytics reads it as background), ``data.yaml`` (relative, so
    the folder can move), ``boxes.jsonl`` (each page's boxes with channels and times, subject,
    split, montage, electrodes, sensitivity and Layout, for evaluation) and ``dataset.json`` (the
    report, with the ``coverage``: montages, rows and sensitivities drawn).

    Without ``variety`` every page is drawn in ``montage`` from all electrodes at the page
    settings' sensitivity; with it, as :class:`PageVariety` says (``montage`` is then unused).
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
    draw_seed = variety.seed if variety is not None else seed
    rng = np.random.default_rng(draw_seed)
    # offsets from their own generator: the variants stay those drawn without them
    offset_rng = np.random.default_rng([draw_seed, 1])
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
        # Expert labels beside simulator truth (a hybrid recording over a scored real one): its
        # real spindles are events too, not background to unlearn.
        extra = expert.get(recording.recording.removesuffix("_hybrid"), []) if source == "simulator truth" else []
        report.label_source[recording.recording] = source + (" + csv" if extra else "")
        part = split[recording.subject]
        first_layout = None
        if variety is None:
            variants = [PageVariant(montage, tuple(recording.electrodes), page_settings.render.sensitivity_uv_per_mm)]
            share = 1
        else:
            variants = page_variants(recording.electrodes, variety, rng)
            if variety.random_offsets and not variety.grid:
                variants = [replace(v, offset_s=round(float(offset_rng.uniform(0.0, PAGE_S)), 2)) for v in variants]
            share = min(variety.variants_per_page, len(variants))
            if not variants:
                report.skipped[str(recording.path)] = "no montage possible on its electrodes"
                continue
        for number, variant in enumerate(variants):
            subset = recording
            if set(variant.electrodes) != set(recording.electrodes):
                rows = [recording.electrodes.index(e) for e in variant.electrodes]
                subset = replace(recording, data=recording.data[rows], electrodes=list(variant.electrodes))
            render = replace(page_settings.render, sensitivity_uv_per_mm=variant.sensitivity_uv_per_mm)
            segments = segments_from_recording(subset, variant.montage, filters=page_settings.filters, flag_settings=page_settings.flags,
                                               duration_s=PAGE_S, start_s=variant.offset_s)  # fmt: skip
            for index, segment in enumerate(segments):
                # page i is drawn in variants i*share .. i*share+share-1 (mod the number of variants)
                if (number - index * share) % len(variants) >= share:
                    continue
                page = render_segment(segment, render)
                first_layout = first_layout or page.layout
                if source == "simulator truth":
                    boxes = simulated_page_boxes(events, extra, page.layout, segment.start_s, segment.data, segment.sfreq, box_settings)
                else:
                    boxes = label_boxes(events, page.layout, segment.start_s, box_settings)
                name = segment.key if variety is None else f"{segment.key}_v{number}"
                page.save(out_dir / "images" / part / f"{name}.png")
                text = "".join(b.yolo_line(page.layout.width, page.layout.height) + "\n" for b in boxes)
                (out_dir / "labels" / part / f"{name}.txt").write_text(text)
                report.pages[part] += 1
                report.note_page(variant.montage, len(page.layout.channels), variant.sensitivity_uv_per_mm, page.layout.px_per_s)
                for box in boxes:
                    report.boxes[part][box.label] = report.boxes[part].get(box.label, 0) + 1
                index_lines.append(json.dumps({
                    "page": name, "split": part, "subject": recording.subject, "recording": recording.recording,
                    "start_s": segment.start_s, "montage": variant.montage, "electrodes": len(variant.electrodes),
                    "sensitivity_uv_per_mm": variant.sensitivity_uv_per_mm,
                    "layout": page.layout.to_dict(), "boxes": [b.to_dict() for b in boxes],
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
        "box_settings": box_settings.__dict__, "coverage": report.coverage(),
        "variety": None if variety is None else variety.__dict__,
    }, indent=1))  # fmt: skip
    return report


def simulated_page_boxes(events: list[dict], expert: list[dict], layout, start_s: float, data: np.ndarray, sfreq: float,
                         box_settings: BoxSettings) -> list:  # fmt: skip
    """A page's boxes from simulator truth (``events``, each channel kept where it stands out of
    the page's own background, ``data``: the page's montage signals in ``layout`` order) plus
    expert rows of a hybrid recording's real background (``expert``, through the label rule):
    the one place the writer and the relabeller make them, so both draw the same boxes."""
    background = page_background(data, sfreq, list(layout.channels))
    return truth_boxes(events, layout, start_s, box_settings, background) + label_boxes(expert, layout, start_s, box_settings)


def relabel_dataset(sources: list[str | Path], recordings_dirs: list[str | Path], out_dir: str | Path, *,
                    box_settings: BoxSettings | None = None, labels_csv: str | Path | None = None,
                    progress: bool = True) -> dict:  # fmt: skip
    """The same pages with boxes drawn again under ``box_settings``: a label rule changes without
    re-rendering (and re-drawing the random page variety of) thousands of pages.

    ``sources`` are datasets written by :func:`write_yolo_dataset` (several are merged into one);
    each page's simulator truth is read from the recordings in ``recordings_dirs`` and its boxes
    made by :func:`~cerebragloss.detection.truth.truth_boxes` from the page's own signals, exactly
    as the writer made them (the default settings give the source's boxes back). Pages labelled
    from a CSV or EDF+ annotations keep their boxes (no background rule applies to them); expert
    CSV rows beside a hybrid recording's truth are added as the writer adds them. Images are
    hard-linked (copied across file systems); pages, splits and coverage stay the source's.
    Returns the new ``dataset.json`` content."""
    import os
    import shutil

    from tqdm.auto import tqdm

    from cerebragloss.detection.audit import page_signals
    from cerebragloss.render import Layout
    from cerebragloss.settings import PageSettings, load_settings
    from cerebragloss.signals import read_recording

    box_settings = box_settings or BoxSettings()
    out_dir = Path(out_dir)
    expert = read_label_csv(labels_csv)[0] if labels_csv is not None else {}
    found: dict[str, Path] = {}
    for folder in map(Path, recordings_dirs):
        for path in sorted(folder.glob("*.events.json")):
            found[path.name.removesuffix(".events.json")] = path
    first = json.loads((Path(sources[0]) / "dataset.json").read_text())
    counts: dict[str, dict[str, int]] = {"train": {}, "val": {}}
    pages_per_split = {"train": 0, "val": 0}
    index_lines, loaded = [], {}
    for name in ("train", "val"):
        (out_dir / "images" / name).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / name).mkdir(parents=True, exist_ok=True)
    for source in map(Path, sources):
        settings_file = source / "page_settings.yaml"
        page_settings = load_settings(PageSettings, settings_file if settings_file.exists() else None)
        pages = [json.loads(line) for line in (source / "boxes.jsonl").read_text().splitlines()]
        for page in tqdm(pages, desc=f"relabel {source.name}", unit="page", disable=not progress):
            layout = Layout.from_dict(page["layout"])
            truth_file = found.get(page["recording"])
            if truth_file is None:
                boxes = page["boxes"]
            else:
                if page["recording"] not in loaded:
                    recording = next(p for p in sorted(truth_file.parent.glob(f"{page['recording']}.*")) if not p.name.endswith(".events.json"))
                    loaded.clear()  # pages come recording by recording: keep one in memory
                    loaded[page["recording"]] = (read_recording(recording), json.loads(truth_file.read_text())["events"])
                recording, events = loaded[page["recording"]]
                signals, sfreq = page_signals(recording, list(layout.channels), page["montage"], page["start_s"], page_settings)
                extra = expert.get(page["recording"].removesuffix("_hybrid"), [])
                data = np.stack([signals[c] for c in layout.channels])
                made = simulated_page_boxes(events, extra, layout, page["start_s"], data, sfreq, box_settings)
                boxes = [b.to_dict() for b in made]
            split = page["split"]
            image = out_dir / "images" / split / f"{page['page']}.png"
            if not image.exists():
                try:
                    os.link(source / "images" / split / f"{page['page']}.png", image)
                except OSError:
                    shutil.copyfile(source / "images" / split / f"{page['page']}.png", image)
            lines = "".join(_yolo_line(b, layout) + "\n" for b in boxes)
            (out_dir / "labels" / split / f"{page['page']}.txt").write_text(lines)
            pages_per_split[split] += 1
            for box in boxes:
                counts[split][box["label"]] = counts[split].get(box["label"], 0) + 1
            index_lines.append(json.dumps({**page, "boxes": boxes}))
    (out_dir / "boxes.jsonl").write_text("".join(line + "\n" for line in index_lines))
    shutil.copyfile(Path(sources[0]) / "data.yaml", out_dir / "data.yaml")
    if (Path(sources[0]) / "page_settings.yaml").exists():
        shutil.copyfile(Path(sources[0]) / "page_settings.yaml", out_dir / "page_settings.yaml")
    report = {**first, "pages": pages_per_split, "boxes": counts, "box_settings": box_settings.__dict__,
              "relabelled_from": [str(s) for s in sources]}  # fmt: skip
    (out_dir / "dataset.json").write_text(json.dumps(report, indent=1))
    return report


def _yolo_line(box: dict, layout) -> str:
    """A ``boxes.jsonl`` box as the YOLO label line :meth:`PageBox.yolo_line` writes."""
    from cerebragloss.detection.truth import PageBox

    return PageBox(box["label"], tuple(box["box"]), box["channels"], box["start_s"], box["end_s"]).yolo_line(layout.width, layout.height)
