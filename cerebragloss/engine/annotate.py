"""One page -> one SegmentAnnotation (DESIGN.md contract), as JSON-ready data.

``annotate`` runs what the engine has so far: background measures, artifacts found on the signal
as recorded (flat and clipped electrodes, from the segment's flags), and, given a detector, its
waveform events. Without a detector the annotation says so, so that nothing downstream reads
"no events" as "no spikes". Artifact detectors on the page (EMG, EOG, ...) and the cleaning step
are the next parts of the engine issue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from cerebragloss.engine.background import BackgroundSettings, analyse_background
from cerebragloss.render import Page
from cerebragloss.signals.segments import Segment

#: Version of the SegmentAnnotation layout; bump it when a field changes meaning.
SCHEMA = 1

#: Electrode flags (found on the signal as recorded) and the artifact type each one is.
_FLAG_ARTIFACTS = {"flat": "flatline", "clipped": "electrode_noise"}


@dataclass
class EngineSettings:
    """Everything that decides an annotation besides the page geometry."""

    background: BackgroundSettings = field(default_factory=BackgroundSettings)


def _channels_with(electrode: str, channels: list[str]) -> list[str]:
    return [c for c in channels if electrode in c.split("-")]


def artifacts_from_flags(segment: Segment) -> list[dict]:
    """Flat and clipped electrodes (flagged before filtering) as artifacts on the page's channels."""
    artifacts = []
    for flag in segment.flags:
        if flag.kind not in _FLAG_ARTIFACTS:
            continue
        channels = _channels_with(flag.channel, segment.channels)
        if not channels:
            continue
        artifacts.append({
            "type": _FLAG_ARTIFACTS[flag.kind], "channels": channels, "electrodes": [flag.channel],
            "start_s": round(flag.start_s, 3), "end_s": round(flag.end_s, 3), "score": 1.0, "source": "signal flags",
        })  # fmt: skip
    return artifacts


def _keep_mask(segment: Segment, artifacts: list[dict]) -> np.ndarray:
    """Samples free of artifact, per channel, for the background measures."""
    keep = np.isfinite(segment.data)
    for artifact in artifacts:
        first, last = (int(round(t * segment.sfreq)) for t in (artifact["start_s"], artifact["end_s"]))
        for channel in artifact["channels"]:
            keep[segment.channels.index(channel), first:last] = False
    return keep


def annotate(segment: Segment, page: Page | None = None, events: list[dict] | None = None, settings: EngineSettings | None = None) -> dict:
    """The SegmentAnnotation of one page. ``events`` are the detector's for this page (see
    ``WaveformDetector.detect``); ``None`` means no detector ran."""
    settings = settings or EngineSettings()
    artifacts = artifacts_from_flags(segment)
    keep = _keep_mask(segment, artifacts)
    background = analyse_background(segment.data, segment.sfreq, segment.channels, settings.background, keep)
    annotation = {
        "schema": SCHEMA,
        **{k: v for k, v in segment.identity().items() if k != "flags"},
        "flags": [asdict(f) for f in segment.flags],
        "background": background,
        "artifacts": artifacts,
        "events": [],
        "detector": {"ran": events is not None},
        "findings": {},
    }
    if events is None:
        annotation["detector"]["note"] = "waveform events were not detected (no detector weights given)"
    else:
        annotation["events"] = events
    if page is not None:
        annotation["page"] = f"{segment.key}.png"
        annotation["layout"] = page.layout.to_dict()
    return annotation
