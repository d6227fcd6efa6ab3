"""Event-level scores of a detector against truth: precision, recall, F1 at a time-IoU threshold.

mAP@0.5 (ultralytics) scores boxes; a clinician counts events. A truth event drawn on several
runs of rows is several boxes, and the detector may answer with one or several: both sides are
first merged per class into events (boxes of one class whose time spans overlap on the same page),
then matched greedily by confidence, one-to-one, where the time IoU reaches ``min_iou``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cerebragloss.labels import WAVEFORM_CLASSES


def time_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    if overlap <= 0:
        return 0.0
    return overlap / (max(a[1], b[1]) - min(a[0], b[0]))


def merge_events(items: list[dict]) -> list[dict]:
    """Per class, union of overlapping time spans ``{"class", "start_s", "end_s", ["confidence"]}``
    (confidence of a merged event: the highest of its parts)."""
    merged: list[dict] = []
    for label in sorted({item["class"] for item in items}):
        spans = sorted((i for i in items if i["class"] == label), key=lambda i: i["start_s"])
        for item in spans:
            if merged and merged[-1]["class"] == label and item["start_s"] <= merged[-1]["end_s"]:
                merged[-1]["end_s"] = max(merged[-1]["end_s"], item["end_s"])
                merged[-1]["confidence"] = max(merged[-1]["confidence"], item.get("confidence", 1.0))
            else:
                merged.append({"class": label, "start_s": item["start_s"], "end_s": item["end_s"], "confidence": item.get("confidence", 1.0)})
    return merged


@dataclass
class EventScore:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_events(truth_pages: list[list[dict]], predicted_pages: list[list[dict]], min_iou: float = 0.2,
                 classes: tuple[str, ...] = WAVEFORM_CLASSES) -> dict[str, EventScore]:  # fmt: skip
    """Per-class event scores over pages (lists aligned page by page); items carry ``class``."""
    scores = {label: EventScore() for label in classes}
    for truth, predicted in zip(truth_pages, predicted_pages, strict=True):
        truth_events, predicted_events = merge_events(truth), merge_events(predicted)
        for label in classes:
            wanted = [(e["start_s"], e["end_s"]) for e in truth_events if e["class"] == label]
            found = sorted((e for e in predicted_events if e["class"] == label), key=lambda e: -e["confidence"])
            free = list(range(len(wanted)))
            for event in found:
                ious = [(time_iou((event["start_s"], event["end_s"]), wanted[i]), i) for i in free]
                best = max(ious, default=(0.0, -1))
                if best[0] >= min_iou:
                    free.remove(best[1])
                    scores[label].true_positives += 1
                else:
                    scores[label].false_positives += 1
            scores[label].false_negatives += len(free)
    return scores


def event_table(scores: dict[str, EventScore], classes=WAVEFORM_CLASSES) -> str:
    lines = [f"{'class':<22} {'truth':>6} {'found':>6} {'P':>6} {'R':>6} {'F1':>6}"]
    for label in classes:
        s = scores[label]
        lines.append(
            f"{label:<22} {s.true_positives + s.false_negatives:>6} {s.true_positives + s.false_positives:>6} "
            f"{s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f}"
        )
    return "\n".join(lines)


def evaluate_events(weights, data_dir, *, split: str = "val", min_iou: float = 0.2, settings=None) -> dict[str, EventScore]:
    """Run the detector over a dataset split's pages and score events against ``boxes.jsonl``."""
    import json
    from pathlib import Path

    from PIL import Image

    from cerebragloss.detection.detector import WaveformDetector
    from cerebragloss.render import Layout

    data_dir = Path(data_dir)
    pages = [json.loads(line) for line in (data_dir / "boxes.jsonl").read_text().splitlines()]
    pages = [p for p in pages if p["split"] == split]
    detector = WaveformDetector(weights, settings)
    images = [Image.open(data_dir / "images" / split / f"{p['page']}.png") for p in pages]
    predicted = detector.detect_images(images, [Layout.from_dict(p["layout"]) for p in pages])
    truth = [[{"class": b["label"], "start_s": b["start_s"], "end_s": b["end_s"]} for b in p["boxes"]] for p in pages]
    return score_events(truth, predicted, min_iou)


def balanced_pages(pages: list[dict], per_cell: int) -> list[dict]:
    """The first ``per_cell`` pages of each montage x electrode count cell, in file order: a fixed
    subset, the same for every weights scored on it, for quick comparisons."""
    taken: dict[tuple, int] = {}
    kept = []
    for page in pages:
        key = (page["montage"], page["electrodes"])
        if taken.get(key, 0) < per_cell:
            taken[key] = taken.get(key, 0) + 1
            kept.append(page)
    return kept


def map50_by_page_kind(weights, data_dir, *, split: str = "val", settings=None, pages_per_cell: int | None = None,
                       agnostic: bool = False) -> dict:  # fmt: skip
    """mAP@0.5 of ``weights`` per montage x electrode count of the pages (``boxes.jsonl``: a
    dataset drawn with a :class:`~cerebragloss.detection.dataset.PageVariety`), per montage, per
    electrode count and over all pages, with the page count of each cell. ``pages_per_cell``
    scores the fixed subset :func:`balanced_pages` instead of every page.

    Scored with the project's ``detection_map50`` (torchmetrics, COCO evaluator), detections kept
    down to confidence 0.001 as mAP needs the whole precision-recall curve. Returns
    ``{(montage | "all", electrodes | "all"): {"map50", "ap50", "pages"}}``; with ``agnostic``,
    ``(cells, cells scored with every class as one)``.
    """
    pages, predicted = detect_dataset_pages(weights, data_dir, split=split, settings=settings, pages_per_cell=pages_per_cell)
    kinds = score_page_kinds(pages, predicted)
    return (kinds, score_page_kinds(pages, predicted, agnostic=True)) if agnostic else kinds


def detect_dataset_pages(weights, data_dir, *, split: str = "val", settings=None, pages_per_cell: int | None = None):
    """The ``boxes.jsonl`` records of a dataset split and the detector's events on each page
    (confidence down to 0.001: what mAP needs)."""
    import json
    from dataclasses import replace
    from pathlib import Path

    from PIL import Image

    from cerebragloss.detection.detector import DetectorSettings, WaveformDetector
    from cerebragloss.render import Layout

    data_dir = Path(data_dir)
    pages = [json.loads(line) for line in (data_dir / "boxes.jsonl").read_text().splitlines()]
    pages = [p for p in pages if p["split"] == split]
    missing = [p["page"] for p in pages if "montage" not in p]
    if missing:
        raise ValueError(f"{data_dir}: pages without montage/electrodes in boxes.jsonl (drawn without --vary): {missing[:3]}")
    if pages_per_cell is not None:
        pages = balanced_pages(pages, pages_per_cell)
    detector = WaveformDetector(weights, replace(settings or DetectorSettings(), confidence=0.001, iou=0.6))
    predicted = []
    for first in range(0, len(pages), 64):  # a few pages at a time: thousands of open images is memory
        chunk = pages[first : first + 64]
        images = [Image.open(data_dir / "images" / split / f"{p['page']}.png") for p in chunk]
        predicted += detector.detect_images(images, [Layout.from_dict(p["layout"]) for p in chunk])
    return pages, predicted


def score_page_kinds(pages: list[dict], predicted: list[list[dict]], agnostic: bool = False) -> dict:
    """The cells of :func:`map50_by_page_kind` from ``boxes.jsonl`` records and the detector's
    events for each page (``box``, ``confidence``, ``class``). ``agnostic`` scores every class as
    one ``waveform``: where it is much higher than the 9-class score, the boxes are found and
    their class is what is wrong."""
    from cerebragloss.evaluation.metrics import detection_map50

    def name(label: str) -> str:
        return "waveform" if agnostic else label

    classes = ["waveform"] if agnostic else list(WAVEFORM_CLASSES)
    predictions = [{"boxes": [e["box"] for e in found], "scores": [e["confidence"] for e in found],
                    "labels": [name(e["class"]) for e in found]} for found in predicted]  # fmt: skip
    targets = [{"boxes": [b["box"] for b in p["boxes"]], "labels": [name(b["label"]) for b in p["boxes"]]} for p in pages]
    cells: dict[tuple, list[int]] = {}
    for index, page in enumerate(pages):
        for key in ((page["montage"], page["electrodes"]), (page["montage"], "all"), ("all", page["electrodes"]), ("all", "all")):
            cells.setdefault(key, []).append(index)
    result = {}
    for key, members in cells.items():
        score = detection_map50([predictions[i] for i in members], [targets[i] for i in members], classes)
        result[key] = {**score, "pages": len(members)}
    return result


def page_kind_table(result: dict, title: str = "mAP@0.5") -> str:
    """One table: montages as rows, electrode counts as columns, ``mAP (pages)`` per cell."""
    montages = sorted({m for m, _ in result if m != "all"}) + ["all"]
    counts = sorted({k for _, k in result if k != "all"}) + ["all"]
    header = f"{title:<22}" + "".join(f"{(str(k) + ' el.') if k != 'all' else 'all':>14}" for k in counts)
    lines = [header]
    for montage in montages:
        cells = []
        for count in counts:
            cell = result.get((montage, count))
            cells.append(f"{cell['map50']:.3f} ({cell['pages']:>4})" if cell else "-")
        lines.append(f"{montage:<22}" + "".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


#: the engine's default page: double banana from a full 10-20 cap
DEFAULT_PAGE_CELL = ("longitudinal_bipolar", 19)


def better_than(new: dict, old: dict, guard: tuple = DEFAULT_PAGE_CELL) -> tuple[bool, str]:
    """Whether weights scored ``new`` (:func:`map50_by_page_kind`) should replace weights scored
    ``old`` on the same pages: higher mAP@0.5 over all pages, and no loss on the engine's default
    page (``guard``), so a better average cannot hide a regression where most pages are drawn.
    Returns the verdict and the reason in words."""
    gained = new[("all", "all")]["map50"] - old[("all", "all")]["map50"]
    if gained <= 0:
        return False, f"mAP@0.5 over all pages {new[('all', 'all')]['map50']:.3f} is not above {old[('all', 'all')]['map50']:.3f}"
    if guard in new and guard in old and new[guard]["map50"] < old[guard]["map50"]:
        return False, f"{guard[0]} {guard[1]} el. regressed {old[guard]['map50']:.3f} -> {new[guard]['map50']:.3f}"
    return True, f"mAP@0.5 {old[('all', 'all')]['map50']:.3f} -> {new[('all', 'all')]['map50']:.3f}, {guard[0]} {guard[1]} el. not lower"
