"""One page -> one SegmentAnnotation (DESIGN.md contract), as JSON-ready data.

``annotate`` runs what the engine has so far: artifacts (on the page as drawn, plus flat and
clipped electrodes from the segment's flags, found on the signal as recorded), background measures
on the samples the artifacts leave, and, given a detector, its waveform events. Without a detector
the annotation says so, so that nothing downstream reads "no events" as "no spikes". The
detector's events then go through cleaning (``cleaning.py``: masking, spatial pruning, dipole
estimates), whose result - and the reason for every decision - is ``findings``.

Sleep transients are also found on the signal (``sleep.py``: spindles, K-complexes and slow waves,
``source: yasa``) and fused with the detector's in cleaning; the page's sleep stage
(``sleep_state``: stage and where it came from) decides whether they are questioned. Both need
the recording around the page: ``run.py`` passes them in as ``context``; a page on its own gets a
per-page detection and the page-level awake rule, and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from cerebragloss.engine.artifacts import ArtifactSettings, find_artifacts
from cerebragloss.engine.background import BackgroundSettings, analyse_background
from cerebragloss.engine.cleaning import CleaningSettings, clean_events
from cerebragloss.engine.sleep import SleepSettings, detect_sleep_transients
from cerebragloss.render import Page
from cerebragloss.signals.segments import Segment

#: Version of the SegmentAnnotation layout; bump it when a field changes meaning.
#: 2: signal-domain sleep events in ``events`` (``source: yasa``), ``sleep_state``, ``sleep_signal``
SCHEMA = 2

#: Electrode flags (found on the signal as recorded) and the artifact type each one is.
_FLAG_ARTIFACTS = {"flat": "flatline", "clipped": "electrode_noise"}


@dataclass
class EngineSettings:
    """Everything that decides an annotation besides the page geometry."""

    background: BackgroundSettings = field(default_factory=BackgroundSettings)
    artifacts: ArtifactSettings = field(default_factory=ArtifactSettings)
    cleaning: CleaningSettings = field(default_factory=CleaningSettings)
    sleep: SleepSettings = field(default_factory=SleepSettings)


def _channels_with(electrode: str, channels: list[str]) -> list[str]:
    return [c for c in channels if electrode in c.split("-")]


#: flags of one electrode this close together are one artifact (a flat electrode that picks up
#: a pop or a blink for a moment is still the same flat electrode)
FLAG_MERGE_GAP_S = 1.0


def artifacts_from_flags(segment: Segment) -> list[dict]:
    """Flat and clipped electrodes (flagged before filtering) as artifacts on the page's channels."""
    artifacts: list[dict] = []
    for flag in sorted(segment.flags, key=lambda f: (f.kind, f.channel, f.start_s)):
        if flag.kind not in _FLAG_ARTIFACTS:
            continue
        channels = _channels_with(flag.channel, segment.channels)
        if not channels:
            continue
        previous = artifacts[-1] if artifacts else None
        if (previous and previous["type"] == _FLAG_ARTIFACTS[flag.kind] and previous["electrodes"] == [flag.channel]
                and flag.start_s - previous["end_s"] <= FLAG_MERGE_GAP_S):  # fmt: skip
            previous["end_s"] = round(flag.end_s, 3)
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


def page_context(segment: Segment, settings: SleepSettings) -> dict:
    """What a page on its own can say about sleep: transients detected on the page alone, and
    no stage (cleaning then applies the page-level awake rule)."""
    if not settings.detect:
        return {"sleep": None, "sleep_state": {"stage": None, "source": "page_rule"}}
    return {
        "sleep": detect_sleep_transients(segment.data, segment.sfreq, segment.channels, settings),
        "sleep_state": {"stage": None, "source": "page_rule", "note": "a page on its own: no recording to stage"},
    }


def annotate(segment: Segment, page: Page | None = None, events: list[dict] | None = None, settings: EngineSettings | None = None,
             context: dict | None = None) -> dict:  # fmt: skip
    """The SegmentAnnotation of one page. ``events`` are the detector's for this page (see
    ``WaveformDetector.detect``); ``None`` means no detector ran. ``context``: what the recording
    around the page says, ``{"sleep": events_of_page(...), "sleep_state": {...}}`` (``run.py``);
    without it the page is analysed on its own (see the module docstring)."""
    settings = settings or EngineSettings()
    context = context or page_context(segment, settings.sleep)
    sleep = context.get("sleep")
    signal_events = list(sleep["events"]) if sleep else []
    artifacts = find_artifacts(segment.data, segment.sfreq, segment.channels, settings.artifacts) + artifacts_from_flags(segment)
    # Spindles are events, not background: their 12-15 Hz peak would be read as a beta background.
    keep = _keep_mask(segment, artifacts + [e for e in signal_events if e["class"] == "sleep_spindle"])
    state = context.get("sleep_state") or {}
    asleep = state.get("stage") in ("N1", "N2", "N3") or any(e["class"] == "sleep_spindle" for e in signal_events)
    background = analyse_background(segment.data, segment.sfreq, segment.channels, settings.background, keep, asleep, state.get("stage"))
    annotation = {
        "schema": SCHEMA,
        **{k: v for k, v in segment.identity().items() if k != "flags"},
        "flags": [asdict(f) for f in segment.flags],
        "background": background,
        "artifacts": artifacts,
        "events": [],
        "detector": {"ran": events is not None},
        "sleep_signal": (
            {"ran": True, "source": "yasa", "context_s": sleep["context_s"], "slow_waves": sleep["slow_waves"]}
            | ({"note": sleep["note"]} if sleep["note"] else {})
            if sleep else {"ran": False}
        ),
        "sleep_state": context.get("sleep_state") or {"stage": None, "source": "page_rule"},
        "findings": {},
    }
    if events is None:
        annotation["detector"]["note"] = "waveform events were not detected (no detector weights given)"
    elif getattr(events, "coverage", None) is not None:
        # the detector's PageEvents say whether this page is like its training pages; a page outside
        # them that has no events must say so, or "nothing found" would read as "nothing there"
        annotation["detector"]["coverage"] = events.coverage
    annotation["events"] = (events or []) + signal_events
    if events is None and not signal_events:
        annotation["findings"] = {"note": "no waveform findings: no detector ran"}
    else:
        annotation["findings"] = clean_events(
            segment.data, segment.sfreq, segment.channels, segment.montage, annotation["events"], artifacts, background,
            settings.cleaning, annotation["sleep_state"],
        )  # fmt: skip
        if events is None:
            annotation["findings"]["note"] = "sleep transients from the signal only: no image detector ran, epileptiform discharges were not looked for"
    if page is not None:
        annotation["page"] = f"{segment.key}.png"
        annotation["layout"] = page.layout.to_dict()
    return annotation
