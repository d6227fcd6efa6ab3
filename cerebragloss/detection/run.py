"""Run a detector over recordings: every page rendered, detected, written, counted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path


def detect_recordings(
    inputs: list[str | Path],
    out_dir: str | Path,
    *,
    weights: str | Path | None = None,
    montage: str = "auto",
    page_settings=None,
    detector_settings=None,
    draw: bool = False,
    progress: bool = True,
) -> dict:
    """Write ``out_dir/detections.jsonl`` (one line per page: recording, start_s, events) and,
    with ``draw``, ``out_dir/pages/<page>.png`` with the boxes drawn. Returns, per recording,
    ``{"pages": n, "montage": chosen montage and why, "events": {class: count}}`` or
    ``{"error": message}``. ``montage="auto"``: the best each recording allows."""
    from tqdm.auto import tqdm

    from cerebragloss.detection.detector import DEFAULT_WEIGHTS, WaveformDetector
    from cerebragloss.detection.draw import draw_boxes
    from cerebragloss.render import render_segment
    from cerebragloss.settings import PageSettings
    from cerebragloss.signals import (
        MontageError,
        RecordingError,
        choose_montage,
        read_recording,
        segments_from_recording,
    )
    from cerebragloss.signals.io import expand_inputs

    page_settings = page_settings or PageSettings()
    detector = WaveformDetector(weights or DEFAULT_WEIGHTS, detector_settings)
    out_dir = Path(out_dir)
    (out_dir / "pages").mkdir(parents=True, exist_ok=True)
    files, problems = expand_inputs(list(inputs))
    summary: dict[str, dict] = {p.split(": ", 1)[0]: {"error": p.split(": ", 1)[-1]} for p in problems}
    lines = []
    for path in tqdm(files, desc="detect", unit="recording", disable=not progress):
        try:
            recording = read_recording(path)
            choice = choose_montage(recording.electrodes, montage)
            segments = segments_from_recording(recording, choice.name, filters=page_settings.filters, flag_settings=page_settings.flags)
            pages = [render_segment(s, page_settings.render) for s in segments]
        except (RecordingError, MontageError, ValueError) as error:
            summary[str(path)] = {"error": str(error)}
            continue
        counts: Counter[str] = Counter()
        for page, events in zip(pages, detector.detect(pages), strict=True):
            counts.update(e["class"] for e in events)
            lines.append(json.dumps({"recording": recording.recording, "page": page.segment.key, "start_s": page.segment.start_s, "events": events}))
            if draw and events:
                boxes = [{"label": e["class"], "box": e["box"], "confidence": e["confidence"]} for e in events]
                draw_boxes(page.image, boxes).save(out_dir / "pages" / f"{page.segment.key}.png")
        summary[str(path)] = {"pages": len(pages), "montage": choice.describe(), "events": dict(sorted(counts.items()))}
    temporary = out_dir / "detections.jsonl.partial"
    temporary.write_text("".join(line + "\n" for line in lines))
    temporary.replace(out_dir / "detections.jsonl")
    return summary
