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


#: the issue's bar for healthy awake EEG: epileptiform findings after cleaning per minute, in every
#: recording and montage (every one there is false)
MAX_AWAKE_FALSE_PER_MINUTE = 0.1


def real_awake_false_alarms(weights, folder, *, settings=None, recordings=None, montages=None, progress: bool = False) -> list[dict]:
    """The engine's false epileptiform findings per minute (after cleaning) with ``weights`` on the
    healthy awake recordings under ``folder`` (``recordings``: these paths instead), in each of
    ``montages`` (default: all four) - the rows ``tools/score_engine.py --real`` prints, from the
    same code (:func:`cerebragloss.evaluation.engine_real.awake_false_alarms`)."""
    from cerebragloss.detection.detector import WaveformDetector
    from cerebragloss.evaluation.engine_real import MONTAGES, awake_false_alarms, awake_recordings

    paths = recordings if recordings is not None else awake_recordings(folder)
    return awake_false_alarms(paths, WaveformDetector(weights, settings), montages=montages or MONTAGES, progress=progress)


def false_alarm_table(new: list[dict], old: list[dict] | None = None, names: tuple[str, str] = ("candidate", "baseline")) -> str:
    """False epileptiform findings per minute per awake recording and montage, candidate beside baseline."""
    before = {(r["recording"], r["montage"]): r for r in old or []}
    lines = [f"| {'recording':<12} | {'montage':<20} | {'minutes':>7} | {names[0] + ' /min':>16} | {names[1] + ' /min':>16} |",
             f"|{'-' * 14}|{'-' * 22}|{'-' * 9}|{'-' * 18}|{'-' * 18}|"]  # fmt: skip
    for row in new:
        base = before.get((row["recording"], row["montage"]))
        lines.append(f"| {row['recording']:<12} | {row['montage']:<20} | {row['minutes']:>7.1f} | {row['per_minute']:>16.2f} | "
                     f"{base['per_minute'] if base else float('nan'):>16.2f} |")  # fmt: skip
    return "\n".join(lines)


def better_than(new: dict, old: dict, guard: tuple = DEFAULT_PAGE_CELL, *, real_new: list[dict] | None = None,
                real_old: list[dict] | None = None, max_per_minute: float = MAX_AWAKE_FALSE_PER_MINUTE) -> tuple[bool, str]:  # fmt: skip
    """Whether weights scored ``new`` (:func:`map50_by_page_kind`) should replace weights scored
    ``old`` on the same pages: higher mAP@0.5 over all pages, and no loss on the engine's default
    page (``guard``), so a better average cannot hide a regression where most pages are drawn.

    With ``real_new`` (and ``real_old``: :func:`real_awake_false_alarms` rows of both weights),
    also no recording x montage of real healthy awake EEG above ``max_per_minute`` false
    epileptiform findings, nor above the old weights' figure there: simulated held-out pages do not
    see what real backgrounds make the detector call (last session's promoted weights were better
    on them and kept 1.0/min on a real awake recording). Returns the verdict and the reason in words."""
    gained = new[("all", "all")]["map50"] - old[("all", "all")]["map50"]
    if gained <= 0:
        return False, f"mAP@0.5 over all pages {new[('all', 'all')]['map50']:.3f} is not above {old[('all', 'all')]['map50']:.3f}"
    if guard in new and guard in old and new[guard]["map50"] < old[guard]["map50"]:
        return False, f"{guard[0]} {guard[1]} el. regressed {old[guard]['map50']:.3f} -> {new[guard]['map50']:.3f}"
    reason = f"mAP@0.5 {old[('all', 'all')]['map50']:.3f} -> {new[('all', 'all')]['map50']:.3f}, {guard[0]} {guard[1]} el. not lower"
    if real_new is None:
        return True, reason
    before = {(r["recording"], r["montage"]): r["per_minute"] for r in real_old or []}
    worse = []
    for row in real_new:
        baseline = before.get((row["recording"], row["montage"]))
        if row["per_minute"] > max_per_minute or (baseline is not None and row["per_minute"] > baseline):
            worse.append(f"{row['recording']} {row['montage']} {row['per_minute']:.2f}/min"
                         + (f" (baseline {baseline:.2f})" if baseline is not None else ""))  # fmt: skip
    if worse:
        return False, f"false epileptiform findings on real awake EEG above {max_per_minute:g}/min or the baseline's: {'; '.join(worse)}"
    return True, reason + f", real awake EEG <= {max_per_minute:g} false findings/min and not above the baseline ({len(real_new)} recording x montage)"


# --- where the boxes are lost: localisation diagnosis ----------------------------------------------

#: box width buckets, in pixels of the network input (a 1344 px page at 640: x 0.476); YOLO's finest
#: stride is 8 px, a spike's box (event + 60 ms each side) ~10 px
WIDTH_BUCKETS_PX = ((0, 8), (8, 16), (16, 32), (32, 64), (64, 10_000))


def _iou_matrix(a, b):
    """IoU of every box in ``a`` [n, 4] with every box in ``b`` [m, 4] (x1, y1, x2, y2)."""
    import numpy as np

    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x1, y1 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x2, y2 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _span_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    return max(0.0, overlap) / max(max(a[1], b[1]) - min(a[0], b[0]), 1e-9)


def average_precision(pages: list[dict], predicted: list[list[dict]], *, iou: float = 0.5, agnostic: bool = False,
                      keep=None) -> float:  # fmt: skip
    """mAP at an IoU threshold, COCO's way (greedy by confidence, each prediction to the unmatched
    truth box it overlaps most, 101-point interpolated precision, mean over classes with truth).

    ``keep(box, page) -> bool`` scores one kind of box only, as COCO's area ranges do: truth boxes it
    rejects are ignored (a prediction matched to one is neither right nor wrong), and so are
    unmatched predictions it rejects. ``pages``: ``boxes.jsonl`` records; ``predicted``: the
    detector's events (``box``, ``confidence``, ``class``) per page."""
    import numpy as np

    def name(label: str) -> str:
        return "waveform" if agnostic else label

    truth_by_class: dict[str, int] = {}
    detections: dict[str, list[tuple[float, int]]] = {}  # class -> (confidence, 1 tp / 0 fp)
    for page, found in zip(pages, predicted, strict=True):
        for label in {name(b["label"]) for b in page["boxes"]} | {name(e["class"]) for e in found}:
            truth = [b["box"] for b in page["boxes"] if name(b["label"]) == label]
            ignored = [keep is not None and not keep(box, page) for box in truth]
            truth_by_class[label] = truth_by_class.get(label, 0) + ignored.count(False)
            mine = sorted((e for e in found if name(e["class"]) == label), key=lambda e: -e["confidence"])
            overlaps = _iou_matrix([e["box"] for e in mine], truth) if truth and mine else None
            taken = [False] * len(truth)
            for row, event in enumerate(mine):
                best, best_iou = -1, iou
                for column in range(len(truth)):  # a free truth box the scored kind first, as COCO
                    if taken[column] or overlaps[row, column] < best_iou:
                        continue
                    if best >= 0 and ignored[column] and not ignored[best]:
                        continue
                    best, best_iou = column, overlaps[row, column]
                if best >= 0:
                    taken[best] = True
                    if not ignored[best]:
                        detections.setdefault(label, []).append((event["confidence"], 1))
                elif keep is None or keep(event["box"], page):
                    detections.setdefault(label, []).append((event["confidence"], 0))
    aps = []
    for label, count in truth_by_class.items():
        if count == 0:
            continue
        scored = sorted(detections.get(label, []), key=lambda d: -d[0])
        hits = np.array([d[1] for d in scored], float)
        true_pos, false_pos = np.cumsum(hits), np.cumsum(1 - hits)
        recall = true_pos / count
        precision = true_pos / np.maximum(true_pos + false_pos, 1e-9)
        precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
        points = []
        for level in np.linspace(0, 1, 101):
            index = np.searchsorted(recall, level, side="left")
            points.append(precision[index] if index < len(precision) else 0.0)
        aps.append(float(np.mean(points)))
    return sum(aps) / len(aps) if aps else 0.0


def localisation_report(pages: list[dict], predicted: list[list[dict]], *, imgsz: int = 640, confidence: float = 0.05) -> str:
    """Where the boxes are lost, as tables: mAP at IoU 0.3/0.5/0.7 (9 classes and class-agnostic);
    truth boxes found at all (any overlap), at IoU 0.3 and 0.5 by a prediction of confidence >=
    ``confidence``, per box width at the network input (``imgsz`` over the page's long side); and
    for each truth box's best-overlapping prediction, its time (x) and row (y) overlap apart:
    which of the two keeps it under IoU 0.5."""
    import numpy as np

    lines = [f"{'mAP at IoU':<26}{'0.3':>8}{'0.5':>8}{'0.7':>8}"]
    for agnostic in (False, True):
        cells = [average_precision(pages, predicted, iou=t, agnostic=agnostic) for t in (0.3, 0.5, 0.7)]
        lines.append(f"{'class-agnostic' if agnostic else '9 classes':<26}" + "".join(f"{c:>8.3f}" for c in cells))

    def network_scale(page: dict) -> float:  # page pixels -> network input pixels (letterboxed to imgsz)
        return imgsz / max(page["layout"]["width"], page["layout"]["height"])

    rows = []  # per truth box: width at imgsz, best IoU, its x and y overlap, height ratio
    for page, found in zip(pages, predicted, strict=True):
        scale = network_scale(page)
        kept = [e["box"] for e in found if e["confidence"] >= confidence]
        for box in (b["box"] for b in page["boxes"]):
            width = (box[2] - box[0]) * scale
            if not kept:
                rows.append((width, 0.0, 0.0, 0.0, 0.0))
                continue
            overlaps = _iou_matrix([box], kept)[0]
            best = kept[int(np.argmax(overlaps))]
            x_iou = _span_iou((box[0], box[2]), (best[0], best[2]))
            y_iou = _span_iou((box[1], box[3]), (best[1], best[3]))
            height_ratio = (best[3] - best[1]) / max(box[3] - box[1], 1e-9)
            rows.append((width, float(overlaps.max()), x_iou, y_iou, height_ratio))
    table = np.array(rows, float).reshape(-1, 5)
    lines += ["", f"truth boxes by width at {imgsz} px: found by a prediction of confidence >= {confidence} (class ignored), "
              "and AP@0.5 of that width (9 classes / agnostic)"]  # fmt: skip
    lines.append(f"{'width px':<12}{'boxes':>7}{'any':>7}{'IoU.3':>7}{'IoU.5':>7}{'x<.5':>7}{'y<.5':>7}{'AP.5':>7}{'agn.5':>7}")
    for low, high in ((0, 10_000),) + WIDTH_BUCKETS_PX:
        mine = table[(table[:, 0] >= low) & (table[:, 0] < high)]
        if not len(mine):
            continue

        def keep(box, page, low=low, high=high):
            return low <= (box[2] - box[0]) * network_scale(page) < high

        label = "all" if high == 10_000 and low == 0 else f"{low}-{high}" if high < 10_000 else f">={low}"
        close = mine[mine[:, 1] > 0]  # of the boxes touched at all: what their best match misses
        ap = average_precision(pages, predicted, iou=0.5, keep=None if label == "all" else keep)
        agnostic_ap = average_precision(pages, predicted, iou=0.5, agnostic=True, keep=None if label == "all" else keep)
        lines.append(
            f"{label:<12}{len(mine):>7}{(mine[:, 1] > 0).mean():>7.2f}{(mine[:, 1] >= 0.3).mean():>7.2f}"
            f"{(mine[:, 1] >= 0.5).mean():>7.2f}{(close[:, 2] < 0.5).mean() if len(close) else 0:>7.2f}"
            f"{(close[:, 3] < 0.5).mean() if len(close) else 0:>7.2f}{ap:>7.3f}{agnostic_ap:>7.3f}"
        )
    touched = table[table[:, 1] > 0]
    if len(touched):
        lines += ["", f"best match of the {len(touched)} touched truth boxes: median time IoU {np.median(touched[:, 2]):.2f}, "
                  f"median row IoU {np.median(touched[:, 3]):.2f}, median height predicted/truth {np.median(touched[:, 4]):.2f}; "
                  f"under IoU 0.5 because of time only {((touched[:, 1] < 0.5) & (touched[:, 2] < 0.5) & (touched[:, 3] >= 0.5)).mean():.2f}, "
                  f"rows only {((touched[:, 1] < 0.5) & (touched[:, 2] >= 0.5) & (touched[:, 3] < 0.5)).mean():.2f}, "
                  f"both {((touched[:, 1] < 0.5) & (touched[:, 2] < 0.5) & (touched[:, 3] < 0.5)).mean():.2f}"]  # fmt: skip
    return "\n".join(lines)


#: event-to-background peak-to-peak ratio buckets (:class:`~cerebragloss.detection.audit.BoxAudit`)
VISIBILITY_BUCKETS = ((0.0, 0.75), (0.75, 1.0), (1.0, 1.5), (1.5, 2.0), (2.0, 3.0), (3.0, float("inf")))


def visibility_report(pages: list[dict], predicted: list[list[dict]], audit, *, confidence: float = 0.05) -> str:
    """Truth boxes found (any overlap with a prediction of confidence >= ``confidence``, class
    ignored) and found at IoU 0.5, by how far the event stands out of its background on the page
    (``audit``: :func:`~cerebragloss.detection.audit.audit_labels` of the same pages), then per
    class the share under the background's own peak-to-peak and the found rate on either side:
    whether the boxes not found are waveforms a reader would not see either."""
    import numpy as np

    by_page = {page["page"]: (page, found) for page, found in zip(pages, predicted, strict=True)}
    rows = []  # (label, ratio, touched, IoU >= 0.5)
    for box in audit.boxes:
        page, found = by_page[box.page]
        truth = page["boxes"][box.box_index]["box"]
        kept = [e["box"] for e in found if e["confidence"] >= confidence]
        best = float(_iou_matrix([truth], kept).max()) if kept else 0.0
        rows.append((box.label, box.signal_to_background, best > 0, best >= 0.5))
    ratio = np.array([r[1] for r in rows])
    touched, placed = np.array([r[2] for r in rows], bool), np.array([r[3] for r in rows], bool)
    lines = [f"truth boxes by event / background peak-to-peak on their page: found (any overlap, confidence >= {confidence}) and at IoU 0.5",
             f"{'event/background':<18}{'boxes':>7}{'found':>7}{'IoU.5':>7}"]  # fmt: skip
    for low, high in VISIBILITY_BUCKETS:
        mine = (ratio >= low) & (ratio < high)
        if mine.any():
            name = f"{low:g}-{high:g}" if high != float("inf") else f">={low:g}"
            lines.append(f"{name:<18}{mine.sum():>7}{touched[mine].mean():>7.2f}{placed[mine].mean():>7.2f}")
    lines += ["", f"{'class':<22}{'boxes':>7}{'< bg':>7}{'found < bg':>12}{'found >= bg':>12}"]
    for label in WAVEFORM_CLASSES:
        mine = np.array([r[0] == label for r in rows], bool)
        if not mine.any():
            continue
        under, over = mine & (ratio < 1.0), mine & (ratio >= 1.0)
        lines.append(f"{label:<22}{mine.sum():>7}{under.sum() / mine.sum():>7.2f}"
                     f"{touched[under].mean() if under.any() else float('nan'):>12.2f}{touched[over].mean() if over.any() else float('nan'):>12.2f}")  # fmt: skip
    return "\n".join(lines)


def diagnose(weights, data_dir, recordings_dir=None, settings=None, pages_per_cell: int | None = None) -> str:
    """``tools/train_detector.py --diagnose``: :func:`localisation_report` of ``weights`` on a
    held-out dataset's pages and, given the simulated recordings it was drawn from,
    :func:`visibility_report`."""
    pages, predicted = detect_dataset_pages(weights, data_dir, settings=settings, pages_per_cell=pages_per_cell)
    from cerebragloss.detection.detector import WaveformDetector

    imgsz = WaveformDetector(weights, settings).imgsz
    text = f"{weights} on {len(pages)} pages of {data_dir} at imgsz {imgsz}\n" + localisation_report(pages, predicted, imgsz=imgsz)
    if recordings_dir is not None:
        from cerebragloss.detection.audit import audit_labels

        audit = audit_labels(data_dir, recordings_dir, pages=pages, imgsz=imgsz)
        text += "\n\n" + visibility_report(pages, predicted, audit)
    return text
