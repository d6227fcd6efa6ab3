"""The waveform detector the engine calls: pages in, events (channels, times, class) out.

A thin wrapper over an ultralytics YOLO model: pages go in batches (CPU or GPU), and every box
comes back as an event through the page's Layout, the same geometry the training boxes were made
with (``cerebragloss.detection.truth``).

A detector knows the pages it was trained on (``<weights>.coverage.json``, written by
``train_detector`` from its dataset): montages, rows per page, sensitivities, time base. Each
page's events come back as a :class:`PageEvents` list whose ``coverage`` says whether the page was
inside that range and, if not, why; events found on such a page carry the same note in
``detector_coverage``, so an annotation never states them without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cerebragloss.labels import EPILEPTIFORM_CLASSES, WAVEFORM_CLASSES
from cerebragloss.render import Layout, Page, render_segment
from cerebragloss.signals import segments_from_recording

#: The detector trained on simulated pages that ships with the package (``make detector``
#: rebuilds it).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "cerebragloss-yolo-sim.pt"


def coverage_path(weights: str | Path) -> Path:
    """Where the pages a detector was trained on are described: ``<weights stem>.coverage.json``."""
    weights = Path(weights)
    return weights.with_name(weights.stem + ".coverage.json")


@dataclass(frozen=True)
class DetectorCoverage:
    """The pages a detector was trained on (``<weights>.coverage.json``)."""

    montages: tuple[str, ...] = ()
    rows: tuple[int, int] = (0, 0)
    sensitivity_uv_per_mm: tuple[float, float] = (0.0, 0.0)
    #: the time base as drawn: pixels per second of the pages (125 for 10 s on a 1344 px page)
    px_per_s: tuple[float, float] | None = None
    #: relative slack on px_per_s: the network sees pages scaled to imgsz, so a page a few
    #: percent wider is the same page to it; a time base 20 % off turns spikes into sharp waves
    px_per_s_tolerance: float = 0.1
    #: the network input size the weights were trained at (None: not recorded)
    imgsz: int | None = None

    @classmethod
    def read(cls, weights: str | Path) -> DetectorCoverage | None:
        path = coverage_path(weights)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(
            montages=tuple(data["montages"]),
            rows=tuple(data["rows"]),
            sensitivity_uv_per_mm=tuple(data["sensitivity_uv_per_mm"]),
            px_per_s=tuple(data["px_per_s"]) if data.get("px_per_s") else None,
            imgsz=data.get("imgsz"),
        )

    def outside(self, layout: Layout, montage: str | None, sensitivity_uv_per_mm: float | None) -> list[str]:
        """Why a page is outside the training pages (empty: inside). Unknown montage or
        sensitivity (an image without its metadata) is said so too."""
        reasons = []
        if montage is None:
            reasons.append("montage unknown")
        elif montage not in self.montages:
            reasons.append(f"montage {montage} (trained on {', '.join(self.montages)})")
        rows = len(layout.channels)
        if not self.rows[0] <= rows <= self.rows[1]:
            reasons.append(f"{rows} rows (trained on {self.rows[0]}-{self.rows[1]})")
        low, high = self.sensitivity_uv_per_mm
        if sensitivity_uv_per_mm is None:
            reasons.append("sensitivity unknown")
        elif not low - 1e-9 <= sensitivity_uv_per_mm <= high + 1e-9:
            reasons.append(f"{sensitivity_uv_per_mm:g} uV/mm (trained on {low:g}-{high:g})")
        if self.px_per_s is not None:
            slow, fast = self.px_per_s
            if not slow * (1 - self.px_per_s_tolerance) <= layout.px_per_s <= fast * (1 + self.px_per_s_tolerance):
                reasons.append(f"time base {layout.px_per_s:.0f} px/s (trained on {slow:.0f}-{fast:.0f})")
        return reasons


class PageEvents(list):
    """One page's events (a plain list of event dicts) with ``coverage``:
    ``{"within_training": bool, "outside": [reasons]}``, the page's ``detector_coverage``."""

    coverage: dict

    def __init__(self, events=(), coverage: dict | None = None):
        super().__init__(events)
        self.coverage = coverage or {"within_training": True, "outside": []}


@dataclass
class DetectorSettings:
    """How the detector runs (engine settings)."""

    #: keep detections at or above this confidence; 0.25 is ultralytics' default and keeps the
    #: engine's cleaning step (which can drop low-confidence isolated boxes) something to work on
    confidence: float = 0.25
    iou: float = 0.5  #: non-maximum suppression overlap
    #: network input size (pages are scaled so the long side is imgsz); None: the size the
    #: weights were trained at (their coverage file's ``imgsz``; 640 for weights without one).
    #: Another size rescales every waveform the network learnt.
    imgsz: int | None = None
    batch: int = 16
    device: str = "cpu"
    #: a second look (:func:`detect_recording`): every epileptiform detection is looked for again on
    #: the recording's pages cut this many seconds later, where it lies elsewhere on the page, and
    #: its confidence there is recorded (``second_look``) for cleaning to weigh; None: one look.
    #: On healthy awake EEG the detector's boxes on background waves come and go with where the
    #: page cuts the recording (``score_engine --real --stress``, page offsets 2.5 / 5 / 7.5 s),
    #: while a discharge is seen on both cuts
    second_look_s: float | None = 5.0
    #: the confidence down to which the second look reads the shifted pages' boxes
    second_look_floor: float = 0.05


def event_from_box(box: tuple[float, float, float, float], label: str, confidence: float, layout: Layout) -> dict:
    """One detection as an event of the SegmentAnnotation: channels and times from the Layout."""
    channels, start_s, end_s = layout.region_of(box)
    return {
        "class": label,
        "channels": channels,
        "start_s": round(start_s, 3),
        "end_s": round(end_s, 3),
        "confidence": round(float(confidence), 4),
        "source": "detector",
        "box": [round(float(v), 1) for v in box],
    }


class WaveformDetector:
    """Load weights once, then :meth:`detect` lists of pages."""

    def __init__(self, weights: str | Path = DEFAULT_WEIGHTS, settings: DetectorSettings | None = None):
        from ultralytics import YOLO

        from cerebragloss.runtime import use_local_caches

        use_local_caches()
        weights = Path(weights)
        if not weights.exists():
            raise FileNotFoundError(f"detector weights {weights} not found (train some with tools/train_detector.py, or run `make detector`)")
        self.weights = weights
        self.settings = settings or DetectorSettings()
        self.model = YOLO(str(weights), task="detect")
        names = [self.model.names[i] for i in sorted(self.model.names)]
        if names != list(WAVEFORM_CLASSES):
            raise ValueError(f"{weights}: classes {names} are not CerebraGloss's 9 waveform classes {list(WAVEFORM_CLASSES)}")
        #: None: weights without a coverage file (trained before coverage was recorded), whose
        #: pages are unknown; every page then says so
        self.coverage = DetectorCoverage.read(weights)
        trained_at = self.coverage.imgsz if self.coverage is not None else None
        #: the input size pages are scaled to: as set, else as trained
        self.imgsz = self.settings.imgsz or trained_at or 640

    def page_coverage(self, layout: Layout, montage: str | None, sensitivity_uv_per_mm: float | None) -> dict:
        """``{"within_training": bool, "outside": [reasons]}`` for one page."""
        if self.coverage is None:
            reasons = [f"training pages unknown: no {coverage_path(self.weights).name} beside the weights"]
        else:
            reasons = self.coverage.outside(layout, montage, sensitivity_uv_per_mm)
        return {"within_training": not reasons, "outside": reasons}

    def detect(self, pages: list[Page], confidence: float | None = None) -> list[PageEvents]:
        """Events per page, in page order, each with class, channels, start/end (seconds from the
        page start), confidence, ``source: detector`` and the pixel box; each page's list carries
        its ``coverage`` (see :class:`PageEvents`). ``confidence``: another threshold than the
        settings'."""
        return self.detect_images(
            [page.image for page in pages], [page.layout for page in pages],
            montages=[page.segment.montage for page in pages],
            sensitivities=[page.settings.sensitivity_uv_per_mm for page in pages], confidence=confidence,
        )  # fmt: skip

    def detect_images(self, images: list, layouts: list[Layout], montages: list[str | None] | None = None,
                      sensitivities: list[float | None] | None = None, confidence: float | None = None) -> list[PageEvents]:  # fmt: skip
        """As :meth:`detect`, for page images read back from disk with their Layouts. Montage and
        sensitivity default to the page PNG's metadata (``Page.png_bytes`` writes them)."""
        if montages is None:
            montages = [getattr(image, "info", {}).get("montage") for image in images]
        if sensitivities is None:
            sensitivities = [getattr(image, "info", {}).get("sensitivity_uv_per_mm") for image in images]
        sensitivities = [None if value is None else float(value) for value in sensitivities]
        results: list[PageEvents] = []
        s = self.settings
        for first in range(0, len(images), s.batch):
            chunk = images[first : first + s.batch]
            # PIL images: ultralytics converts them from RGB itself (numpy arrays would be read as BGR).
            predictions = self.model.predict(
                [image.convert("RGB") for image in chunk], imgsz=self.imgsz, conf=s.confidence if confidence is None else confidence,
                iou=s.iou, device=s.device, verbose=False,
            )  # fmt: skip
            for offset, prediction in enumerate(predictions):
                layout = layouts[first + offset]
                coverage = self.page_coverage(layout, montages[first + offset], sensitivities[first + offset])
                boxes = prediction.boxes
                events = [
                    event_from_box(tuple(xyxy), WAVEFORM_CLASSES[int(cls)], float(conf), layout)
                    for xyxy, cls, conf in zip(boxes.xyxy.tolist(), boxes.cls.tolist(), boxes.conf.tolist(), strict=True)
                ]
                if not coverage["within_training"]:
                    note = "outside training: " + "; ".join(coverage["outside"])
                    for event in events:
                        event["detector_coverage"] = note
                results.append(PageEvents(sorted(events, key=lambda e: (e["start_s"], e["class"])), coverage))
        return results


def look_again(found: list[list[dict]], page_starts: list[float], again: list[list[dict]], again_spans: list[tuple[float, float]],
               shift_s: float) -> None:  # fmt: skip
    """Record on each epileptiform event of ``found`` (pages starting at ``page_starts``, recording
    seconds) its ``second_look``: ``{"shift_s"`` (how much later ``again``'s pages start, negative
    where earlier), ``"confidence"}``, the highest confidence of an
    epileptiform event of ``again`` (pages spanning ``again_spans``) that overlaps it in time on a
    shared channel, 0.0 where none does. Events that no page of ``again`` holds whole get none."""
    seen = [(start + e["start_s"], start + e["end_s"], set(e["channels"]), e["confidence"])
            for (start, _), events in zip(again_spans, again, strict=True) for e in events if e["class"] in EPILEPTIFORM_CLASSES]  # fmt: skip
    for start, events in zip(page_starts, found, strict=True):
        for event in events:
            if event["class"] not in EPILEPTIFORM_CLASSES:
                continue
            first, last = start + event["start_s"], start + event["end_s"]
            if not any(lo <= first and last <= hi for lo, hi in again_spans):
                continue
            there = [c for a, b, channels, c in seen if a < last and b > first and channels & set(event["channels"])]
            event["second_look"] = {"shift_s": shift_s, "confidence": round(max(there, default=0.0), 4)}


def detect_recording(detector: WaveformDetector, recording, segments: list, pages: list[Page], *, filters=None, flag_settings=None,
                     render_settings=None) -> list[PageEvents]:  # fmt: skip
    """:meth:`WaveformDetector.detect` on the ``pages`` of ``segments`` (consecutive pages of
    ``recording``), with the second look of ``DetectorSettings.second_look_s``: the same stretch
    cut that much later (or earlier, where the first page starts that far in), drawn with the same
    settings, detected down to ``second_look_floor``, and :func:`look_again` on every event."""
    found = detector.detect(pages)
    shift = detector.settings.second_look_s
    if not shift or not segments:
        return found
    first = segments[0]
    start = first.start_s - shift if first.start_s >= shift else first.start_s + shift
    shifted = list(segments_from_recording(recording, first.montage, filters=filters, flag_settings=flag_settings,
                                           duration_s=first.duration_s, start_s=start, max_segments=len(segments) + 1))  # fmt: skip
    again = detector.detect([render_segment(s, render_settings) for s in shifted], confidence=detector.settings.second_look_floor)
    look_again(found, [s.start_s for s in segments], again, [(s.start_s, s.start_s + s.duration_s) for s in shifted], start - first.start_s)
    return found
