"""Label audit of a detector dataset: how big each class's boxes are at the network's input size,
and how many truth boxes stand for waveforms nobody could see on the page.

A detector cannot be scored on what is not drawn. A box is *plausibly invisible* when the event's
largest peak-to-peak deflection on the box's channels is under 1 mm of paper at the page's
sensitivity, or under the background's own peak-to-peak on that channel (median over the page's
1 s windows; for spindles in the sigma band): a 20 uV spike in 60 uV of alpha is there in the
truth file and nowhere on the paper. The table also counts boxes under half the background, the
labelling rule's default (``BoxSettings.min_background_ratio``).

Simulator truth only (``boxes.jsonl`` pages of recordings with ``.events.json`` beside them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cerebragloss.detection.truth import channel_gain, page_background
from cerebragloss.labels import WAVEFORM_CLASSES


@dataclass
class BoxAudit:
    label: str
    width_px: float  #: at the network input (page scaled so its long side is ``imgsz``)
    height_px: float
    event_pp_uv: float  #: the event's largest peak-to-peak deflection on the box's channels
    event_pp_mm: float
    #: median 1 s peak-to-peak of the page on that channel (sigma band for spindles:
    #: :func:`~cerebragloss.detection.truth.page_background`, as the labelling rule reads it)
    background_pp_uv: float
    page: str = ""  #: the ``boxes.jsonl`` page the box is on...
    box_index: int = -1  #: ...and its place in that page's boxes

    @property
    def signal_to_background(self) -> float:
        return self.event_pp_uv / max(self.background_pp_uv, 1e-6)


@dataclass
class LabelAudit:
    imgsz: int
    boxes: list[BoxAudit] = field(default_factory=list)
    unmatched: int = 0  #: boxes whose truth event was not found (should be 0)

    def invisible(self, box: BoxAudit, min_mm: float = 1.0, min_ratio: float = 1.0) -> bool:
        return box.event_pp_mm < min_mm or box.signal_to_background < min_ratio

    def table(self) -> str:
        lines = [
            f"label audit at imgsz {self.imgsz}: box size in network pixels (p10 / median / p90), "
            "event size, and boxes plausibly invisible (< 1 mm, or < the background's peak-to-peak)",
            f"{'class':<22} {'boxes':>6} {'width px':>18} {'height px':>18} {'event mm (med)':>15} "
            f"{'ev/bg (med)':>12} {'< 1 mm':>7} {'< bg/2':>7} {'< bg':>7} {'invisible':>10}",
        ]
        groups = [(name, [b for b in self.boxes if b.label == name]) for name in WAVEFORM_CLASSES] + [("all", self.boxes)]
        for name, group in groups:
            if not group:
                continue
            width = " /".join(f"{v:5.1f}" for v in np.percentile([b.width_px for b in group], [10, 50, 90]))
            height = " /".join(f"{v:5.1f}" for v in np.percentile([b.height_px for b in group], [10, 50, 90]))
            small = np.mean([b.event_pp_mm < 1.0 for b in group])
            half = np.mean([b.signal_to_background < 0.5 for b in group])
            buried = np.mean([b.signal_to_background < 1.0 for b in group])
            hidden = np.mean([self.invisible(b) for b in group])
            lines.append(
                f"{name:<22} {len(group):>6} {width:>18} "
                f"{height:>18} {np.median([b.event_pp_mm for b in group]):>15.1f} "
                f"{np.median([b.signal_to_background for b in group]):>12.2f} {small:>7.1%} {half:>7.1%} {buried:>7.1%} {hidden:>10.1%}"
            )
        if self.unmatched:
            lines.append(f"({self.unmatched} boxes without a matching truth event were left out)")
        return "\n".join(lines)


def page_signals(recording, layout_channels: list[str], montage: str, start_s: float, page_settings) -> tuple[dict[str, np.ndarray], float]:
    """(channel -> filtered montage signal, sampling rate) of one page, as the dataset drew it (electrode subset = the
    electrodes its channels use)."""
    from cerebragloss.detection.truth import derivation_of
    from cerebragloss.signals import segments_from_recording

    used = {e for c in layout_channels for e in derivation_of(c) if e and e != "AVG"}
    rows = [i for i, e in enumerate(recording.electrodes) if e in used]
    subset = replace(recording, data=recording.data[rows], electrodes=[recording.electrodes[i] for i in rows])
    segment = next(iter(segments_from_recording(
        subset, montage, filters=page_settings.filters, flag_settings=page_settings.flags, start_s=start_s, max_segments=1,
    )))  # fmt: skip
    return {c: segment.data[i] for i, c in enumerate(segment.channels)}, segment.sfreq


def audit_labels(data_dir: str | Path, recordings_dir: str | Path, *, split: str | None = None, imgsz: int = 640,
                 max_pages: int | None = None, pages: list[dict] | None = None) -> LabelAudit:  # fmt: skip
    """Audit the boxes of ``data_dir/boxes.jsonl`` (or of ``pages``, records of it) against the
    simulator truth of the recordings in ``recordings_dir`` (the folder the dataset was drawn from)."""
    from cerebragloss.settings import PageSettings, load_settings
    from cerebragloss.signals import read_recording

    data_dir, recordings_dir = Path(data_dir), Path(recordings_dir)
    settings_file = data_dir / "page_settings.yaml"
    page_settings = load_settings(PageSettings, settings_file if settings_file.exists() else None)
    if pages is None:
        pages = [json.loads(line) for line in (data_dir / "boxes.jsonl").read_text().splitlines()]
    pages = [p for p in pages if p["boxes"] and (split is None or p["split"] == split)]
    if max_pages is not None:
        pages = pages[:max_pages]
    audit = LabelAudit(imgsz)
    recordings: dict[str, tuple] = {}
    for page in pages:
        name = page["recording"]
        if name not in recordings:
            path = next(p for p in sorted(recordings_dir.glob(f"{name}.*")) if not p.name.endswith(".events.json"))
            truth = json.loads((recordings_dir / f"{name}.events.json").read_text())
            recordings[name] = (read_recording(path), truth["events"])
        recording, events = recordings[name]
        layout = page["layout"]
        scale = imgsz / max(layout["width"], layout["height"])
        signals, sfreq = page_signals(recording, layout["channels"], page["montage"], page["start_s"], page_settings)
        backgrounds = page_background(np.stack([signals[c] for c in layout["channels"]]), sfreq, layout["channels"])
        for box_index, box in enumerate(page["boxes"]):
            # the truth event: same class, whose span (plus the box margin) overlaps the box most
            start, end = page["start_s"] + box["start_s"], page["start_s"] + box["end_s"]
            candidates = [e for e in events if e["class"] == box["label"] and e["onset_s"] < end and e["offset_s"] > start]
            if not candidates:
                audit.unmatched += 1
                continue
            event = max(candidates, key=lambda e: min(e["offset_s"], end) - max(e["onset_s"], start))
            low, high = event["extremes_uv"]
            best_pp, best_channel = -1.0, box["channels"][0]
            for channel in box["channels"]:
                pp = abs(channel_gain(channel, event["gains"], layout["channels"])) * (high - low)
                if pp > best_pp:
                    best_pp, best_channel = pp, channel
            background = backgrounds.get(box["label"], backgrounds["broadband"])[best_channel]
            x0, y0, x1, y1 = box["box"]
            audit.boxes.append(BoxAudit(box["label"], (x1 - x0) * scale, (y1 - y0) * scale, best_pp,
                                        best_pp / page["sensitivity_uv_per_mm"], background, page["page"], box_index))  # fmt: skip
    return audit
