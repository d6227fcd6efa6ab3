"""What a SegmentAnnotation allows a text to say: the facts that survived cleaning.

Rules phrase these facts, the teacher is given them (never the page), and verification checks a
teacher's text against them. Events come only from ``findings`` (kept by cleaning; sleep
transients questioned by an awake background are left out).

A text may say a waveform is absent only where something looked for it on this page
(``PageFacts.searched``): the image detector looks for all 9 classes, but only on pages like the
ones it was trained on (``detector.coverage`` of the annotation); the signal-domain sleep
detectors (``sleep_signal``, YASA) look for spindles and K-complexes on any page they ran on.
On a page outside the image detector's coverage its search says nothing either way: absence of
spikes, sharp waves, vertex waves or POSTS is not stated, and the events it reports there are
set aside (the issue measured dozens of false discharges on such pages), not stated as findings.
Background, artifacts and the signal's sleep transients still stand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cerebragloss.engine.background import electrodes_of, prevailing_activity
from cerebragloss.labels import EPILEPTIFORM_CLASSES, SLEEP_CLASSES, WAVEFORM_CLASSES
from cerebragloss.synthesis.vocabulary import OLD_TO_NEW, electrodes_named, region_phrase

#: What the signal-domain sleep detectors (``engine/sleep.py``) look for on every page they run on.
SIGNAL_SEARCHED_CLASSES: tuple[str, ...] = ("k_complex", "sleep_spindle")


@dataclass(frozen=True)
class EventFact:
    label: str
    channels: tuple[str, ...]
    start_s: float
    end_s: float
    confidence: float
    box: tuple[float, ...] = ()
    #: epileptiform discharges: the electrode of maximal negativity and how it was found
    focus: str | None = None
    focus_method: str | None = None

    @property
    def electrodes(self) -> list[str]:
        return _electrodes(self.channels)

    @property
    def region(self) -> str:
        return region_phrase([self.focus] if self.focus else self.electrodes)


@dataclass(frozen=True)
class ArtifactFact:
    label: str
    channels: tuple[str, ...]
    start_s: float
    end_s: float

    @property
    def electrodes(self) -> list[str]:
        return _electrodes(self.channels)


@dataclass(frozen=True)
class BackgroundFact:
    prevailing_band: str
    median_uv: float
    voltage: str
    pdr_present: bool
    pdr_hz: float | None
    pdr_band: str | None
    pdr_uv: float | None
    pdr_channel: str | None
    symmetric: bool
    #: (lower side, left channel, right channel, ratio) of each asymmetric pair
    asymmetries: tuple[tuple[str, str, str, float], ...]
    summary: str


@dataclass(frozen=True)
class PageFacts:
    key: str
    recording: str
    subject: str
    start_s: float
    duration_s: float
    montage: str
    channels: tuple[str, ...]
    missing: tuple[str, ...]
    detector_ran: bool
    epileptiform: tuple[EventFact, ...]
    sleep: tuple[EventFact, ...]
    artifacts: tuple[ArtifactFact, ...]
    background: BackgroundFact
    #: detections cleaning masked, dropped or questioned, with the reason (not stated as findings)
    set_aside: tuple[str, ...] = field(default=())
    #: waveform classes a detector looked for on this page, where its search covers the page:
    #: the only ones whose absence a text may state (see the module docstring)
    searched: frozenset[str] = field(default=frozenset())
    #: why the image detector's search does not cover this page (it ran outside its training pages)
    detector_outside: tuple[str, ...] = field(default=())

    @property
    def events(self) -> tuple[EventFact, ...]:
        return tuple(sorted(self.epileptiform + self.sleep, key=lambda e: e.start_s))

    @property
    def classes(self) -> set[str]:
        return {e.label for e in self.events}

    @property
    def artifact_types(self) -> set[str]:
        return {a.label for a in self.artifacts}

    @property
    def epileptiform_searched(self) -> bool:
        """Whether "no epileptiform discharges" may be said: every epileptiform class was looked for."""
        return set(EPILEPTIFORM_CLASSES) <= self.searched

    @property
    def sleep_searched(self) -> tuple[str, ...]:
        """The sleep transients whose absence may be stated, in label order."""
        return tuple(c for c in SLEEP_CLASSES if c in self.searched)

    def not_searched_because(self, label: str) -> str:
        """Why the absence of waveform ``label`` may not be stated (for verification's messages)."""
        if self.detector_outside:
            return f"the waveform detector's search does not cover this page ({'; '.join(self.detector_outside)})"
        if not self.detector_ran:
            return "no waveform detector ran on this page"
        return f"no detector looked for {label} on this page"

    def electrodes(self) -> set[str]:
        """Every electrode a text may name as the place of something: those of the stated events,
        their foci, the artifacts, the posterior rhythm's channel and asymmetric pairs."""
        named: set[str] = set()
        for event in self.events:
            named |= set(event.electrodes) | ({event.focus} if event.focus else set())
            named |= {e for e, _, _ in electrodes_named(event.focus_method or "")}
        for artifact in self.artifacts:
            named |= set(artifact.electrodes)
        background = self.background
        if background.pdr_channel:
            named |= set(_electrodes([background.pdr_channel]))
        for _lower, left, right, _ratio in background.asymmetries:
            named |= set(_electrodes([left, right]))
        return named


def _electrodes(channels) -> list[str]:
    found: list[str] = []
    for channel in channels:
        for electrode in electrodes_of(channel):
            electrode = OLD_TO_NEW.get(electrode, electrode)
            if electrode and electrode not in found:
                found.append(electrode)
    return found


def _event_fact(event: dict) -> EventFact:
    dipole = event.get("dipole") or {}
    return EventFact(
        label=event["class"], channels=tuple(event["channels"]), start_s=float(event["start_s"]), end_s=float(event["end_s"]),
        confidence=float(event.get("confidence", 1.0)), box=tuple(event.get("box") or ()),
        focus=dipole.get("focus") or None, focus_method=dipole.get("method"),
    )  # fmt: skip


def waveform_search(annotation: dict) -> tuple[frozenset[str], tuple[str, ...]]:
    """(classes looked for on the page by a detector that covers it, why the image detector does
    not cover it). An annotation without ``detector.coverage`` (schema 1, or events handed to the
    engine as a plain list) counts as covered: nothing said otherwise."""
    detector = annotation.get("detector") or {}
    searched: set[str] = set()
    outside: tuple[str, ...] = ()
    if detector.get("ran"):
        coverage = detector.get("coverage") or {}
        if coverage.get("within_training", True):
            searched |= set(WAVEFORM_CLASSES)
        else:
            outside = tuple(coverage.get("outside") or ["outside the detector's training pages"])
    if (annotation.get("sleep_signal") or {}).get("ran"):
        searched |= set(SIGNAL_SEARCHED_CLASSES)
    return frozenset(searched), outside


def page_facts(annotation: dict) -> PageFacts:
    """The facts of one SegmentAnnotation (see the module docstring)."""
    findings = annotation.get("findings") or {}
    kept = findings.get("events") or []
    searched, outside = waveform_search(annotation)

    def stated(index: int) -> bool:
        # the image detector's events on a page it does not cover are not findings (module docstring)
        return not (outside and kept[index].get("source", "detector") == "detector")

    epileptiform = tuple(_event_fact(kept[i]) for i in findings.get("epileptiform", []) if stated(i))
    sleep = tuple(_event_fact(kept[i]) for i in findings.get("sleep_events", []) if stated(i))
    set_aside = tuple(
        f"{d['class']} {d['decision']}: {d['reason']}" for d in findings.get("decisions", []) if d["decision"] != "kept"
    ) + tuple(
        f"{kept[i]['class']} questioned: found by the image detector on a page outside its training pages ({'; '.join(outside)})"
        for i in [*findings.get("epileptiform", []), *findings.get("sleep_events", [])] if not stated(i)
    )  # fmt: skip
    artifacts = tuple(
        ArtifactFact(a["type"], tuple(a["channels"]), float(a["start_s"]), float(a["end_s"])) for a in annotation.get("artifacts", [])
    )  # fmt: skip
    background = annotation["background"]
    band, median, voltage = prevailing_activity(background["channels"])
    pdr = background.get("posterior_dominant_rhythm") or {}
    present = bool(pdr.get("present"))
    asymmetries = tuple((p["lower"], p["left"], p["right"], p["ratio"]) for p in background["symmetry"].get("asymmetric_pairs", []))
    return PageFacts(
        key=annotation["key"], recording=annotation["recording"], subject=annotation["subject"],
        start_s=float(annotation["start_s"]), duration_s=float(annotation["duration_s"]), montage=annotation["montage"],
        channels=tuple(annotation["channels"]), missing=tuple(annotation.get("missing", [])),
        detector_ran=bool((annotation.get("detector") or {}).get("ran")),
        epileptiform=epileptiform, sleep=sleep, artifacts=artifacts,
        background=BackgroundFact(
            prevailing_band=band, median_uv=round(median, 1), voltage=voltage, pdr_present=present,
            pdr_hz=pdr.get("frequency_hz") if present else None, pdr_band=pdr.get("band") if present else None,
            pdr_uv=pdr.get("amplitude_uv") if present else None, pdr_channel=pdr.get("channel") if present else None,
            symmetric=bool(background["symmetry"].get("symmetric", True)), asymmetries=asymmetries,
            summary=background.get("summary", ""),
        ),
        set_aside=set_aside, searched=searched, detector_outside=outside,
    )  # fmt: skip


def facts_record(facts: PageFacts) -> dict:
    """The facts as plain JSON (what the teacher is given besides the caption)."""
    return {
        "montage": facts.montage,
        "channels_missing": list(facts.missing),
        "waveform_detector_ran": facts.detector_ran,
        # absence may be stated for these classes only; the reasons say why the rest were not looked for
        "waveforms_searched": [c for c in WAVEFORM_CLASSES if c in facts.searched],
        "waveform_detector_outside_coverage": list(facts.detector_outside),
        "epileptiform_discharges": [_event_record(e) for e in facts.epileptiform],
        "sleep_transients": [_event_record(e) for e in facts.sleep],
        "artifacts": [
            {"type": a.label, "channels": list(a.channels), "start_s": round(a.start_s, 2), "end_s": round(a.end_s, 2)}
            for a in facts.artifacts
        ],
        "background": {k: v for k, v in asdict(facts.background).items() if k != "summary"},
    }


def _event_record(event: EventFact) -> dict:
    record = {"class": event.label, "channels": list(event.channels), "start_s": round(event.start_s, 2),
              "end_s": round(event.end_s, 2), "region": event.region}  # fmt: skip
    if event.box:
        record["box_px"] = [round(v) for v in event.box]
    if event.focus:
        record["maximum_negativity_at"] = event.focus
    return record
