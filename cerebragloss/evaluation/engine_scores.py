"""The engine scored against the simulator's truth (scoring code: it reads the simulator's truth,
which the engine itself never imports).

- **Background.** Each simulated recording's background is regenerated without its events and
  artifacts (same seed: the simulator draws the background first). The engine measures the page as
  recorded, events and artifacts included; the truth is the same measure on the clean background.
  So the score says how well the engine sees through contamination: amplitude within 10 %,
  dominant frequency within 0.5 Hz (on channels whose clean spectrum has a clear peak), and the
  posterior dominant rhythm against the alpha frequency the simulator was given (awake pages).
- **Artifacts.** Per type, found spans against truth spans clipped to each page, matched at time
  IoU >= 0.2 (``cerebragloss.detection.evaluate.score_events``). A truth span with too little of
  it on a page to be recognised there - less than 1 s (3 s for a breathing sway: a third of a
  0.3 Hz cycle is a tilt, not a sway), or less than its whole length - is "don't care": neither a
  hit to find nor a false alarm when found.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from cerebragloss.detection.evaluate import EventScore, score_events, time_iou
from cerebragloss.engine.annotate import EngineSettings, artifacts_from_flags
from cerebragloss.engine.artifacts import find_artifacts
from cerebragloss.engine.background import analyse_background, power_spectrum
from cerebragloss.labels import ARTIFACT_TYPES, EPILEPTIFORM_CLASSES


def clean_background(truth: dict, electrodes: list[str]) -> np.ndarray:
    """The background of a simulated recording, regenerated without events and artifacts."""
    from cerebragloss.signals.simulate import BackgroundSettings, _background_over_states

    settings = truth["settings"]
    rng = np.random.default_rng(truth["seed"])
    return _background_over_states(
        truth["states"], electrodes, truth["sfreq"], BackgroundSettings(**truth["background"]), settings["crossfade_s"], rng
    )


#: seconds of an artifact a page must show for it to count (see the module docstring)
MIN_VISIBLE_S = {"breathing": 3.0}


def _page_truth(artifacts: list[dict], start_s: float, duration_s: float):
    wanted, dont_care = [], []
    for artifact in artifacts:
        s = max(artifact["onset_s"], start_s) - start_s
        e = min(artifact["offset_s"], start_s + duration_s) - start_s
        needed = min(MIN_VISIBLE_S.get(artifact["type"], 1.0), artifact["offset_s"] - artifact["onset_s"])
        if e - s >= needed - 1e-6:
            wanted.append({"class": artifact["type"], "start_s": s, "end_s": e})
        elif e > s:
            dont_care.append((artifact["type"], s, e))
    return wanted, dont_care


def _peak_is_clear(freqs: np.ndarray, power: np.ndarray, frequency: float) -> bool:
    """A rhythm, not a slope: the peak stands 2x above the 1/f trend at its frequency."""
    fit = (freqs >= 1.0) & (freqs <= 30.0) & (np.abs(freqs - frequency) > 2.0)
    slope, intercept = np.polyfit(np.log(freqs[fit]), np.log(power[fit] + 1e-20), 1)
    index = int(np.argmin(np.abs(freqs - frequency)))
    return power[index] >= 8.0 * np.exp(intercept + slope * np.log(freqs[index]))


def score_engine(recordings: list[str | Path], montage: str = "longitudinal_bipolar", settings: EngineSettings | None = None, page_settings=None) -> dict:
    """Background and artifact scores of the engine over simulated recordings with truth files."""
    from cerebragloss.settings import PageSettings
    from cerebragloss.signals import read_recording, segments_from_recording
    from cerebragloss.signals.simulate import load_truth, state_at

    settings = settings or EngineSettings()
    page_settings = page_settings or PageSettings()
    amplitude_errors, frequency_errors, pdr_errors = [], [], []
    truth_pages, found_pages = [], []
    for path in recordings:
        truth = load_truth(path)
        recording = read_recording(path)
        clean = replace(recording, data=clean_background(truth, recording.electrodes))
        options = {"filters": page_settings.filters, "flag_settings": page_settings.flags}
        for page, reference in zip(segments_from_recording(recording, montage, **options),
                                   segments_from_recording(clean, montage, **options), strict=True):  # fmt: skip
            found = find_artifacts(page.data, page.sfreq, page.channels, settings.artifacts) + artifacts_from_flags(page)
            wanted, dont_care = _page_truth(truth["artifacts"], page.start_s, page.duration_s)
            found = [f for f in found if not any(f["type"] == k and time_iou((f["start_s"], f["end_s"]), (s, e)) > 0 for k, s, e in dont_care)]
            truth_pages.append(wanted)
            found_pages.append([{"class": f["type"], "start_s": f["start_s"], "end_s": f["end_s"], "confidence": f["score"]} for f in found])

            keep = np.isfinite(page.data)
            for artifact in found:
                first, last = (int(round(t * page.sfreq)) for t in (artifact["start_s"], artifact["end_s"]))
                for channel in artifact["channels"]:
                    keep[page.channels.index(channel), first:last] = False
            measured = analyse_background(page.data, page.sfreq, page.channels, settings.background, keep)
            expected = analyse_background(reference.data, reference.sfreq, reference.channels, settings.background)
            freqs, power = power_spectrum(np.asarray(reference.data, dtype=np.float64), reference.sfreq, settings.background.welch_window_s)
            electrode_flat = {f.channel for f in page.flags if f.kind == "flat"}
            for row, channel in enumerate(page.channels):
                if set(channel.split("-")) & electrode_flat:
                    continue  # a flat electrode has no background to measure
                m, e = measured["channels"][channel], expected["channels"][channel]
                amplitude_errors.append(m["amplitude_uv"] / max(e["amplitude_uv"], 1e-9) - 1.0)
                if _peak_is_clear(freqs, power[row], e["dominant_hz"]):
                    frequency_errors.append(m["dominant_hz"] - e["dominant_hz"])
            middle = page.start_s + page.duration_s / 2
            pdr = measured["posterior_dominant_rhythm"]
            if state_at(truth["states"], middle) == "awake" and state_at(truth["states"], page.start_s) == "awake" and pdr.get("present"):
                pdr_errors.append(pdr["frequency_hz"] - truth["background"]["alpha_hz"])
    scores = score_events(truth_pages, found_pages, 0.2, ARTIFACT_TYPES)
    amplitude_errors, frequency_errors, pdr_errors = map(np.abs, map(np.asarray, (amplitude_errors, frequency_errors, pdr_errors)))
    return {
        "pages": len(truth_pages),
        "amplitude": {"channel_pages": len(amplitude_errors), "within_10pct": float(np.mean(amplitude_errors <= 0.10)),
                      "median_error_pct": float(np.median(amplitude_errors) * 100)},
        "dominant_frequency": {"channel_pages": len(frequency_errors), "within_0_5_hz": float(np.mean(frequency_errors <= 0.5)),
                               "median_error_hz": float(np.median(frequency_errors))},
        "pdr": {"awake_pages": len(pdr_errors), "within_0_5_hz": float(np.mean(pdr_errors <= 0.5)) if len(pdr_errors) else None,
                "median_error_hz": float(np.median(pdr_errors)) if len(pdr_errors) else None},
        "artifacts": scores,
    }  # fmt: skip


def engine_table(result: dict) -> str:
    a, f, p = result["amplitude"], result["dominant_frequency"], result["pdr"]
    lines = [
        f"pages: {result['pages']}",
        f"amplitude (half peak-to-peak) within 10 % of truth: {a['within_10pct']:.1%} of {a['channel_pages']} channel-pages "
        f"(median error {a['median_error_pct']:.1f} %)",
        f"dominant frequency within 0.5 Hz of truth: {f['within_0_5_hz']:.1%} of {f['channel_pages']} channel-pages with a clear peak "
        f"(median error {f['median_error_hz']:.2f} Hz)",
    ]
    if p["awake_pages"]:
        lines.append(f"posterior dominant rhythm within 0.5 Hz of the simulated alpha: {p['within_0_5_hz']:.1%} of {p['awake_pages']} awake pages "
                     f"(median error {p['median_error_hz']:.2f} Hz)")  # fmt: skip
    lines.append(f"{'artifact':<18} {'truth':>6} {'found':>6} {'P':>6} {'R':>6} {'F1':>6}")
    for kind, score in result["artifacts"].items():
        score: EventScore
        lines.append(f"{kind:<18} {score.true_positives + score.false_negatives:>6} {score.true_positives + score.false_positives:>6} "
                     f"{score.precision:>6.3f} {score.recall:>6.3f} {score.f1:>6.3f}")  # fmt: skip
    return "\n".join(lines)


def artifact_burden(data_uv: np.ndarray, sfreq: float, names: list[str], montage: str = "as_recorded",
                    stride_s: float = 3.0, settings: EngineSettings | None = None) -> dict:  # fmt: skip
    """How much artifact the engine finds in one array ``[channels, samples]`` (uV): the array
    goes through the real path (EDF+ file, reader, filters, montage, pages every ``stride_s``),
    and the result is, per type and summed over pages: the count, the channel-seconds, and the
    channel-seconds weighted by score (how far past its detector's threshold each artifact is:
    a cleaning method that halves a muscle burst without removing it shows there)."""
    import tempfile

    from cerebragloss.signals import read_recording, segments_from_recording
    from cerebragloss.signals.simulate import write_edf

    settings = settings or EngineSettings()
    with tempfile.TemporaryDirectory() as scratch:
        path = write_edf(Path(scratch) / "array_1.edf", data_uv, sfreq, names)
        recording = read_recording(path)
    seconds: dict[str, float] = dict.fromkeys(ARTIFACT_TYPES, 0.0)
    weighted: dict[str, float] = dict.fromkeys(ARTIFACT_TYPES, 0.0)
    counts: dict[str, int] = dict.fromkeys(ARTIFACT_TYPES, 0)
    pages = 0
    for page in segments_from_recording(recording, montage, stride_s=stride_s):
        pages += 1
        for artifact in find_artifacts(page.data, page.sfreq, page.channels, settings.artifacts) + artifacts_from_flags(page):
            extent = (artifact["end_s"] - artifact["start_s"]) * len(artifact["channels"])
            seconds[artifact["type"]] += extent
            weighted[artifact["type"]] += extent * artifact["score"]
            counts[artifact["type"]] += 1
    return {"pages": pages, "count": counts, "channel_seconds": seconds, "score_weighted": weighted,
            "total_channel_seconds": sum(seconds.values()), "total_score_weighted": sum(weighted.values())}  # fmt: skip


#: the simulator's states as AASM stages
STAGE_OF_STATE = {"awake": "W", "drowsy": "N1", "n2": "N2", "n3": "N3"}


def score_staging(recordings: list[str | Path], settings=None) -> dict:
    """The staging classifier the engine falls back on (no hypnogram, recording long enough)
    against the simulator's states, per 30 s epoch whose middle is inside one state (the
    recording's own hypnogram annotations are not given to it)."""
    from cerebragloss.engine.sleep import SleepSettings, stages_from_classifier
    from cerebragloss.signals import read_recording
    from cerebragloss.signals.simulate import load_truth, state_at

    settings = settings or SleepSettings()
    pairs = []
    for path in recordings:
        recording, truth = read_recording(path), load_truth(path)
        starts = [30.0 * i for i in range(int(recording.duration_s // 30))]
        classified = stages_from_classifier(recording.data, recording.sfreq, recording.electrodes, starts, 30.0, settings)
        if classified is None:
            continue
        for start, stage in zip(starts, classified[0], strict=True):
            # epochs across a state change (and its crossfade) have no single truth
            if state_at(truth["states"], start) == state_at(truth["states"], start + 29.9):
                pairs.append((STAGE_OF_STATE[state_at(truth["states"], start + 15.0)], stage))
    stages = ["W", "N1", "N2", "N3", "R"]
    confusion = {t: {p: sum(1 for a, b in pairs if a == t and b == p) for p in stages} for t in stages[:4]}
    return {"epochs": len(pairs), "accuracy": float(np.mean([a == b for a, b in pairs])) if pairs else None,
            "confusion": confusion, "recordings": len(recordings)}  # fmt: skip


def staging_table(result: dict) -> str:
    if not result["epochs"]:
        return "staging: no recording long enough for the classifier (>= 5 min)"
    stages = ["W", "N1", "N2", "N3", "R"]
    lines = [f"sleep staging (YASA classifier, no hypnogram given) vs simulated states: accuracy {result['accuracy']:.1%} "
             f"over {result['epochs']} epochs of 30 s, {result['recordings']} recordings",
             "| truth \\ staged | " + " | ".join(f"{s:>4}" for s in stages) + " |"]  # fmt: skip
    for truth, row in result["confusion"].items():
        lines.append(f"| {truth:<14} | " + " | ".join(f"{row[s]:>4}" for s in stages) + " |")
    return "\n".join(lines)


def score_discharges(recordings: list[str | Path], detector=None, settings=None, montages: tuple[str, ...] | None = None,
                     progress: bool = True) -> list[dict]:  # fmt: skip
    """Simulated epileptiform discharges the engine reports after cleaning, per montage: the other
    side of the real awake check (``engine_real.awake_false_alarms``), where every finding is
    false. A discharge is found when a kept epileptiform finding overlaps it at time IoU >= 0.2,
    whatever class either names (one-to-one; ``class_right`` counts those naming its class). Rows
    ``{"montage", "discharges", "found", "class_right", "false"}`` summed over ``recordings``."""
    from tqdm.auto import tqdm

    from cerebragloss.evaluation.engine_real import (
        MONTAGES,
        engine_annotations,
        findings_in_recording_time,
    )
    from cerebragloss.signals import read_recording
    from cerebragloss.signals.simulate import load_truth

    montages = montages or MONTAGES
    totals = {m: {"montage": m, "discharges": 0, "found": 0, "class_right": 0, "false": 0} for m in montages}
    for path in tqdm(recordings, desc="discharge recordings", disable=not progress):
        wanted = [{"class": e["class"], "start_s": e["onset_s"], "end_s": e["offset_s"]} for e in load_truth(path)["events"]
                  if e["class"] in EPILEPTIFORM_CLASSES]  # fmt: skip
        recording = read_recording(path)
        for montage in montages:
            found = findings_in_recording_time(engine_annotations(recording, montage, detector, settings), EPILEPTIFORM_CLASSES)
            for key, count in discharge_counts(wanted, found).items():
                totals[montage][key] += count
    return list(totals.values())


def discharge_counts(wanted: list[dict], found: list[dict]) -> dict[str, int]:
    """``{"discharges", "found", "class_right", "false"}`` of findings against truth discharges
    (items ``{"class", "start_s", "end_s"}``, findings with ``confidence``): found at time IoU >=
    0.2 one-to-one whatever the class, ``class_right`` where the finding also names its class."""

    def unnamed(events: list[dict]) -> list[dict]:
        return [dict(e, **{"class": "discharge"}) for e in events]

    anyclass = score_events([unnamed(wanted)], [unnamed(found)], 0.2, ("discharge",))["discharge"]
    named = score_events([wanted], [found], 0.2, EPILEPTIFORM_CLASSES)
    return {"discharges": len(wanted), "found": anyclass.true_positives, "class_right": sum(s.true_positives for s in named.values()),
            "false": anyclass.false_positives}  # fmt: skip


def discharge_table(rows: list[dict]) -> str:
    lines = [f"| {'montage':<20} | {'discharges':>10} | {'found':>5} | {'recall':>6} | {'class right':>11} | {'false':>5} |",
             f"|{'-' * 22}|{'-' * 12}|{'-' * 7}|{'-' * 8}|{'-' * 13}|{'-' * 7}|"]  # fmt: skip
    for row in rows + [{"montage": "all", **{k: sum(r[k] for r in rows) for k in ("discharges", "found", "class_right", "false")}}]:
        recall = row["found"] / row["discharges"] if row["discharges"] else 0.0
        lines.append(f"| {row['montage']:<20} | {row['discharges']:>10} | {row['found']:>5} | {recall:>6.2f} | {row['class_right']:>11} | {row['false']:>5} |")
    return "\n".join(lines)
