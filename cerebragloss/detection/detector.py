"""The waveform detector inside the engine: pages in, events (channels, times, class) out.

A thin wrapper over an ultralytics YOLO model: pages go in batches (CPU or GPU), and every box
comes back as an event through the page's Layout, the same geometry the training boxes were made
with (``cerebragloss.detection.truth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.render import Layout, Page

#: The detector trained on simulated pages that ships with the package (``make detector``
#: rebuilds it).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "detection" / "weights" / "cerebragloss-yolo-sim.pt"


@dataclass
class DetectorSettings:
    """How the detector runs (engine settings)."""

    #: keep detections at or above this confidence; 0.25 is ultralytics' default and keeps the
    #: engine's cleaning step (which can drop low-confidence isolated boxes) something to work on
    confidence: float = 0.25
    iou: float = 0.5  #: non-maximum suppression overlap
    imgsz: int = 640  #: must match training (pages are scaled so the long side is imgsz)
    batch: int = 16
    device: str = "cpu"


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

    def detect(self, pages: list[Page]) -> list[list[dict]]:
        """Events per page, in page order, each with class, channels, start/end (seconds from the
        page start), confidence, ``source: detector`` and the pixel box."""
        return self.detect_images([page.image for page in pages], [page.layout for page in pages])

    def detect_images(self, images: list, layouts: list[Layout]) -> list[list[dict]]:
        """As :meth:`detect`, for page images read back from disk with their Layouts."""
        results: list[list[dict]] = []
        s = self.settings
        for first in range(0, len(images), s.batch):
            chunk = images[first : first + s.batch]
            # PIL images: ultralytics converts them from RGB itself (numpy arrays would be read as BGR).
            predictions = self.model.predict(
                [image.convert("RGB") for image in chunk], imgsz=s.imgsz, conf=s.confidence,
                iou=s.iou, device=s.device, verbose=False,
            )  # fmt: skip
            for layout, prediction in zip(layouts[first : first + s.batch], predictions, strict=True):
                boxes = prediction.boxes
                events = [
                    event_from_box(tuple(xyxy), WAVEFORM_CLASSES[int(cls)], float(conf), layout)
                    for xyxy, cls, conf in zip(boxes.xyxy.tolist(), boxes.cls.tolist(), boxes.conf.tolist(), strict=True)
                ]
                results.append(sorted(events, key=lambda e: (e["start_s"], e["class"])))
        return results
