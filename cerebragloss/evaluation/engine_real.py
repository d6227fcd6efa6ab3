"""The engine scored on real recordings (``tools/score_engine.py --real DIR``).

Three measures, each with its reference in the same run:

- **Sleep transients** on every recording with scored events (an ``events.csv`` beside it, the
  ``tools/detector_dataset.py --labels`` format, or EDF+ annotations naming spindles or
  K-complexes): spindle and K-complex precision, recall and F1 of the engine (its cleaned
  findings: image detector plus signal detectors, questioned events left out) and of YASA with
  default settings on the same signal (every YASA slow wave counted as a K-complex, as a reader of
  YASA's output would), greedy one-to-one matching at time IoU >= 0.2
  (``cerebragloss.detection.evaluate.score_events``). Also the pages whose background the
  engine calls beta (on N2 sleep that is the spindles' sigma peak read as background).
- **False alarms on healthy awake EEG**: epileptiform findings after cleaning per minute, per
  recording and montage (every finding there is false).
- **Posterior dominant rhythm** per awake recording: the median of the engine's page PDRs
  against a Welch reference (the peak in 6-14 Hz of the mean O1/O2 spectrum over the whole
  recording, 4 s segments), with the share of pages where the engine reports a PDR.
"""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from cerebragloss.detection.evaluate import EventScore, score_events
from cerebragloss.labels import EPILEPTIFORM_CLASSES

SCORED_CLASSES = ("sleep_spindle", "k_complex")
#: healthy awake recordings under the --real folder: rest and mental arithmetic (eegmat), a motor
#: task run (eegbci, and the eegmmidb run under edf/ that MNE tests with), and the wake before
#: lights-off of a BioSemi sleep-lab recording (bdf/). The last two were added after every
#: cleaning rule up to the pooled rhythm share had been set on the first three: they check those
#: rules on heads and amplifiers they were not tuned on (not the detector: its training hybrids
#: used them as backgrounds)
AWAKE_PATTERNS = ("eegmat/*.edf", "eegbci/*.edf", "edf/test_edf_overlapping_annotations.edf", "bdf/multiple_annotation_chans.bdf")
#: a sleep lab's "lights off" mark, as labs spell it ("Lights Off", "lights out", "Ligths-Off#1")
LIGHTS_OFF = re.compile(r"li(ght|gth)s?[\s_-]*(off|out)", re.IGNORECASE)
MONTAGES = ("longitudinal_bipolar", "transverse_bipolar", "average", "as_recorded")


def _class_of(description: str) -> str | None:
    text = description.lower().replace("_", "-").replace(" ", "-")
    if "spindle" in text:
        return "sleep_spindle"
    if "k-complex" in text or "kcomplex" in text:
        return "k_complex"
    return None


def scored_events(path: Path, recording) -> list[dict]:
    """Scored spindles and K-complexes of one recording (recording time), from ``events.csv``
    beside it, else from its annotations."""
    table = path.parent / "events.csv"
    if table.exists():
        with table.open() as handle:
            rows = [r for r in csv.DictReader(handle) if r["recording"] == path.stem and r["class"] in SCORED_CLASSES]
        if rows:
            return [{"class": r["class"], "start_s": float(r["start_s"]), "end_s": float(r["end_s"])} for r in rows]
    events = []
    for annotation in recording.annotations:
        label = _class_of(annotation.description)
        if label:
            events.append({"class": label, "start_s": annotation.onset_s, "end_s": annotation.onset_s + annotation.duration_s})
    return events


def engine_annotations(recording, montage: str, detector=None, settings=None) -> list[dict]:
    """Every page's SegmentAnnotation, as ``tools/annotate.py`` makes them (in memory)."""
    from cerebragloss.detection.detector import detect_recording
    from cerebragloss.engine.annotate import EngineSettings, annotate
    from cerebragloss.engine.sleep import recording_contexts
    from cerebragloss.render import render_segment
    from cerebragloss.signals import segments_from_recording

    settings = settings or EngineSettings()
    segments = list(segments_from_recording(recording, montage))
    pages = [render_segment(s) for s in segments] if detector is not None else [None] * len(segments)
    events = detect_recording(detector, recording, segments, pages) if detector is not None else [None] * len(segments)
    contexts = recording_contexts(recording, segments, settings.sleep)
    return [annotate(s, p, e, settings, c) for s, p, e, c in zip(segments, pages, events, contexts, strict=True)]


def findings_in_recording_time(annotations: list[dict], classes: tuple[str, ...]) -> list[dict]:
    found = []
    for annotation in annotations:
        findings = annotation.get("findings") or {}
        kept = findings.get("events") or []
        for index in findings.get("sleep_events", []) + findings.get("epileptiform", []):
            event = kept[index]
            if event["class"] in classes:
                found.append({"class": event["class"], "start_s": annotation["start_s"] + event["start_s"],
                              "end_s": annotation["start_s"] + event["end_s"], "confidence": event.get("confidence", 1.0),
                              "channels": event["channels"]})  # fmt: skip
    return found


def yasa_defaults(recording) -> list[dict]:
    """YASA's spindles and slow waves with default settings on the recording's page signal (the
    spindle detector's 1-30 Hz broadband capped below Nyquist on recordings sampled under 67 Hz,
    where YASA's default cannot be built)."""
    import yasa

    from cerebragloss.engine.sleep import _quiet_yasa, broad_band
    from cerebragloss.signals import segments_from_recording

    _quiet_yasa()
    segments = list(segments_from_recording(recording, "as_recorded"))
    data = np.concatenate([s.data for s in segments], axis=1).astype(np.float64)
    sfreq, offset = segments[0].sfreq, segments[0].start_s
    found = []
    for label, result in (("sleep_spindle", yasa.spindles_detect(data, sfreq, ch_names=segments[0].channels, freq_broad=broad_band(sfreq), verbose="error")),
                          ("k_complex", yasa.sw_detect(data, sfreq, ch_names=segments[0].channels, verbose="error"))):  # fmt: skip
        if result is not None:
            found += [{"class": label, "start_s": offset + float(r.Start), "end_s": offset + float(r.End), "confidence": 1.0}
                      for r in result.summary().itertuples()]  # fmt: skip
    return found


def welch_pdr(recording) -> float | None:
    """The reference PDR: peak in 6-14 Hz of the mean O1/O2 Welch spectrum of the whole recording;
    None where the largest value is at an edge of the band (no peak: eyes open, e.g.)."""
    from scipy.signal import welch

    rows = [recording.electrodes.index(e) for e in ("O1", "O2") if e in recording.electrodes]
    if not rows:
        return None
    freqs, power = welch(recording.data[rows], fs=recording.sfreq, nperseg=int(4 * recording.sfreq), axis=-1)
    mean = power.mean(axis=0)
    band = (freqs >= 6.0) & (freqs <= 14.0)
    index = int(np.argmax(mean[band]))
    f, p = freqs[band], np.log(mean[band] + 1e-20)
    if not 0 < index < len(p) - 1:
        return None
    if (d := p[index - 1] - 2 * p[index] + p[index + 1]) < 0:
        return float(f[index] + 0.5 * (p[index - 1] - p[index + 1]) / d * (f[1] - f[0]))
    return float(f[index])


def awake_recordings(folder: str | Path) -> list[Path]:
    """The healthy awake recordings under ``folder`` (:data:`AWAKE_PATTERNS`)."""
    return sorted(p for g in AWAKE_PATTERNS for p in Path(folder).glob(g))


def cropped(recording, start_s: float = 0.0, end_s: float | None = None):
    """``recording`` from ``start_s`` (to ``end_s``): signals, auxiliary channels and the
    annotations that start inside, their onsets from the new start."""
    first = int(round(start_s * recording.sfreq))
    last = None if end_s is None else int(end_s * recording.sfreq)
    kept = [a for a in recording.annotations if a.onset_s >= start_s and (end_s is None or a.onset_s < end_s)]
    return replace(recording, data=recording.data[:, first:last], aux=[replace(a, data=a.data[first:last]) for a in recording.aux],
                   annotations=[replace(a, onset_s=a.onset_s - start_s) for a in kept])  # fmt: skip


def read_awake(path: str | Path):
    """A healthy awake recording, up to its first lights-off annotation where it has one (a sleep
    lab records wake before it; drowsiness and sleep may follow)."""
    from cerebragloss.signals import read_recording

    recording = read_recording(path)
    off = min((a.onset_s for a in recording.annotations if LIGHTS_OFF.search(a.description)), default=None)
    return recording if off is None else cropped(recording, end_s=off)


def awake_false_alarm_row(recording, montage: str, detector=None, settings=None) -> tuple[dict, list[dict]]:
    """Epileptiform findings after cleaning on one healthy awake recording drawn in ``montage``
    (every one is false): ``{"recording", "montage", "minutes", "epileptiform", "per_minute",
    "k_complexes"}``, and the page annotations it counted them on."""
    annotations = engine_annotations(recording, montage, detector, settings)
    minutes = len(annotations) * annotations[0]["duration_s"] / 60 if annotations else 0.0
    epileptiform = findings_in_recording_time(annotations, EPILEPTIFORM_CLASSES)
    kcomplexes = findings_in_recording_time(annotations, ("k_complex",))
    row = {"recording": recording.recording, "montage": montage, "minutes": minutes, "epileptiform": len(epileptiform),
           "per_minute": len(epileptiform) / minutes if minutes else 0.0, "k_complexes": len(kcomplexes)}  # fmt: skip
    return row, annotations


def awake_false_alarms(paths: list[str | Path], detector=None, settings=None, montages=MONTAGES, progress: bool = True) -> list[dict]:
    """:func:`awake_false_alarm_row` for every recording in ``paths`` and montage (the detector's
    promotion guard runs this; ``score_real`` prints the same rows)."""
    from tqdm.auto import tqdm

    rows = []
    for path in tqdm(paths, desc="awake recordings", disable=not progress):
        recording = read_awake(path)
        rows += [awake_false_alarm_row(recording, montage, detector, settings)[0] for montage in montages]
    return rows


def score_real(folder: str | Path, detector=None, settings=None, progress: bool = True) -> dict:
    """All three measures over the recordings under ``folder`` (see the module docstring)."""
    from tqdm.auto import tqdm

    from cerebragloss.signals import read_recording

    folder = Path(folder)
    sleep_rows, awake_rows, pdr_rows = [], [], []
    awake = awake_recordings(folder)
    candidates = sorted(p for p in folder.rglob("*.edf") if p not in awake)
    for path in tqdm(candidates, desc="scored recordings", disable=not progress):
        try:
            recording = read_recording(path)
        except Exception:  # noqa: BLE001 - test files of odd formats: not scored recordings
            continue
        truth = scored_events(path, recording)
        if not truth:
            continue
        annotations = engine_annotations(recording, "auto", detector, settings)  # as tools/annotate.py draws it
        engine = score_events([truth], [findings_in_recording_time(annotations, SCORED_CLASSES)], 0.2, SCORED_CLASSES)
        reference = score_events([truth], [yasa_defaults(recording)], 0.2, SCORED_CLASSES)
        beta = sum(any(v["band"] == "beta" for v in a["background"]["channels"].values()) for a in annotations)
        sleep_rows.append({"recording": path.stem, "engine": engine, "yasa": reference, "pages": len(annotations), "beta_pages": beta})
    for path in tqdm(awake, desc="awake recordings", disable=not progress):
        recording = read_awake(path)
        for montage in MONTAGES:
            row, annotations = awake_false_alarm_row(recording, montage, detector, settings)
            awake_rows.append(row)
            if montage == "longitudinal_bipolar":
                pdrs = [a["background"]["posterior_dominant_rhythm"] for a in annotations]
                present = [p["frequency_hz"] for p in pdrs if p.get("present")]
                pdr_rows.append({"recording": path.stem, "engine_median_hz": float(np.median(present)) if present else None,
                                 "pages_with_pdr": f"{len(present)}/{len(pdrs)}", "welch_hz": welch_pdr(recording)})  # fmt: skip
    return {"sleep": sleep_rows, "awake": awake_rows, "pdr": pdr_rows, "detector": str(getattr(detector, "weights", None))}


def real_table(result: dict) -> str:
    def prf(score: EventScore) -> str:
        found = score.true_positives + score.false_positives
        return f"{found:>5} {score.precision:>5.2f} {score.recall:>5.2f} {score.f1:>5.2f}"

    width = max([12] + [len(row["recording"]) for row in result["awake"] + result["pdr"]])
    lines = [f"detector: {result['detector']}", "", "Sleep transients on scored recordings (time IoU >= 0.2, one-to-one)",
             f"| {'recording':<20} | {'class':<13} | {'truth':>5} | {'engine found P R F1':>23} | {'YASA defaults found P R F1':>26} |",
             f"|{'-' * 22}|{'-' * 15}|{'-' * 7}|{'-' * 25}|{'-' * 28}|"]  # fmt: skip
    for row in result["sleep"]:
        for label in SCORED_CLASSES:
            e, y = row["engine"][label], row["yasa"][label]
            truth = e.true_positives + e.false_negatives
            if truth:
                lines.append(f"| {row['recording']:<20} | {label:<13} | {truth:>5} | {prf(e):>23} | {prf(y):>26} |")
    lines += ["", "Background called beta (any channel) on scored sleep recordings"]
    lines += [f"  {row['recording']}: {row['beta_pages']}/{row['pages']} pages" for row in result["sleep"]]
    lines += ["", "Healthy awake EEG: epileptiform findings after cleaning (all false), and K-complexes kept",
              f"| {'recording':<{width}} | {'montage':<20} | {'minutes':>7} | {'findings':>8} | {'per min':>7} | {'K-complex':>9} |",
              f"|{'-' * (width + 2)}|{'-' * 22}|{'-' * 9}|{'-' * 10}|{'-' * 9}|{'-' * 11}|"]  # fmt: skip
    for row in result["awake"]:
        lines.append(f"| {row['recording']:<{width}} | {row['montage']:<20} | {row['minutes']:>7.1f} | {row['epileptiform']:>8} | "
                     f"{row['per_minute']:>7.2f} | {row['k_complexes']:>9} |")  # fmt: skip
    lines += ["", "Posterior dominant rhythm (engine: median over pages, double banana; reference: Welch O1/O2, whole recording)",
              f"| {'recording':<{width}} | {'engine Hz':>9} | {'pages with PDR':>14} | {'Welch Hz':>8} |", f"|{'-' * (width + 2)}|{'-' * 11}|{'-' * 16}|{'-' * 10}|"]
    for row in result["pdr"]:
        engine = f"{row['engine_median_hz']:.2f}" if row["engine_median_hz"] is not None else "-"
        welch = f"{row['welch_hz']:.2f}" if row["welch_hz"] is not None else "-"
        lines.append(f"| {row['recording']:<{width}} | {engine:>9} | {row['pages_with_pdr']:>14} | {welch:>8} |")
    return "\n".join(lines)


#: Other heads than the few awake recordings at hand: amplitude x tempo. Tempo f plays the
#: recording f times faster (every frequency x f, every duration / f): a 10.5 Hz alpha becomes
#: 8.9-12.1 Hz, a blink or a saccade 15 % slower or quicker; amplitude x0.6-1.6 spans quieter and
#: louder heads (skull, age, electrode impedance). Each variant is still healthy awake EEG, so
#: every epileptiform finding on it is false.
#: Then the recording as it is, paged from 2.5, 5 and 7.5 s in (amplitude, tempo, offset): where a
#: page cuts the recording decides what the detector sees together, and a recording handed to the
#: engine starts wherever its lab started it. The detector's boxes on background waves came and
#: went with the cut: 11 false findings on these three offsets (5 recordings, plain and mirrored,
#: 4 montages) against 1 on the 8 amplitude x tempo variants, before the second look
STRESS_VARIANTS = ((0.6, 1.0), (1.6, 1.0), (1.0, 0.85), (1.0, 1.15), (0.6, 0.85), (0.6, 1.15), (1.6, 0.85), (1.6, 1.15),
                   (1.0, 1.0, 2.5), (1.0, 1.0, 5.0), (1.0, 1.0, 7.5))  # fmt: skip



def mirrored(recording):
    """``recording`` as the mirror-image head would give it: every electrode's signal under its
    homologue's name (10-10 numbers odd on the left, even on the right: Fp1 <-> Fp2, F7 <-> F8,
    A1 <-> A2), midline electrodes unchanged. An asymmetry, an artifact or a wave that a rule was
    set on lands on the other side and on other rows of every page: the rules meet the same
    recordings as new ones (``score_engine --real --stress --mirror``)."""
    from cerebragloss.signals.channels import homologue

    return replace(recording, electrodes=[homologue(name) for name in recording.electrodes],
                   channel_map={recorded: homologue(name) for recorded, name in recording.channel_map.items()})


def stressed_awake_false_alarms(paths: list[str | Path], variants=STRESS_VARIANTS, detector=None, settings=None,
                                montages=MONTAGES, progress: bool = True, mirror: bool = False) -> list[dict]:  # fmt: skip
    """:func:`awake_false_alarm_row` on every (amplitude, tempo[, page offset s]) variant of every
    healthy awake recording in ``paths`` (:data:`STRESS_VARIANTS`; ``mirror``: each recording
    :func:`mirrored` first), each row with ``amplitude``, ``tempo``, ``offset_s``, ``mirrored`` and
    ``findings``: ``(seconds into the original recording, class, channels, confidence)`` of every
    epileptiform finding kept."""
    from tqdm.auto import tqdm

    rows = []
    originals = {path: read_awake(path) for path in paths}  # each file read once, not once per variant
    if mirror:
        originals = {path: mirrored(recording) for path, recording in originals.items()}
    jobs = [(path, *(*variant, 0.0)[:3]) for path in paths for variant in variants]
    for path, amplitude, tempo, offset in tqdm(jobs, desc="stressed awake recordings", disable=not progress):
        original = cropped(originals[path], offset) if offset else originals[path]
        recording = replace(original, data=original.data * amplitude, sfreq=original.sfreq * tempo)
        for montage in montages:
            row, annotations = awake_false_alarm_row(recording, montage, detector, settings)
            row["findings"] = [(round(f["start_s"] * tempo + offset, 2), f["class"], ",".join(f["channels"]), round(f["confidence"], 2))
                               for f in findings_in_recording_time(annotations, EPILEPTIFORM_CLASSES)]  # fmt: skip
            rows.append({**row, "amplitude": amplitude, "tempo": tempo, "offset_s": offset, "mirrored": mirror})
    return rows


def stress_table(rows: list[dict], limit: float = 0.1) -> str:
    """Cells (recording x variant x montage) above ``limit`` findings per minute, per montage and
    in all, then every finding (time in the original recording)."""
    montages = list(dict.fromkeys(r["montage"] for r in rows))
    mirror = ", mirrored left-right" if any(r.get("mirrored") for r in rows) else ""
    variants = len({(r["amplitude"], r["tempo"], r.get("offset_s", 0.0)) for r in rows})
    paged = " and page offsets" if any(r.get("offset_s") for r in rows) else ""
    lines = [f"Healthy awake EEG{mirror}, amplitude x tempo variants{paged} ({variants} per recording): "
             f"epileptiform findings after cleaning (all false)",
             f"| {'montage':<20} | {'cells':>5} | {'cells > ' + format(limit, 'g') + '/min':>14} | {'findings':>8} | {'minutes':>7} | {'per min':>7} |",
             f"|{'-' * 22}|{'-' * 7}|{'-' * 16}|{'-' * 10}|{'-' * 9}|{'-' * 9}|"]  # fmt: skip
    for montage in [*montages, "all"]:
        mine = [r for r in rows if montage in ("all", r["montage"])]
        found, minutes = sum(r["epileptiform"] for r in mine), sum(r["minutes"] for r in mine)
        lines.append(f"| {montage:<20} | {len(mine):>5} | {sum(r['per_minute'] > limit for r in mine):>14} | {found:>8} | "
                     f"{minutes:>7.1f} | {found / max(minutes, 1e-9):>7.3f} |")  # fmt: skip
    lines += ["", "Findings (recording, amplitude x tempo[, paged from], montage: seconds into the original recording, class, channels, confidence)"]
    for r in rows:
        paged_from = f" from {r['offset_s']:g} s" if r.get("offset_s") else ""
        for finding in r["findings"]:
            lines.append(f"  {r['recording']} x{r['amplitude']:g} tempo x{r['tempo']:g}{paged_from} {r['montage']}: {finding}")
    return "\n".join(lines)


def planted_steps(path: str | Path, step_uv: float, detector=None, settings=None, montages=MONTAGES, electrodes=None,
                  progress: bool = True, decay_s: float | None = None) -> list[dict]:  # fmt: skip
    """Epileptiform findings after cleaning on a healthy awake recording with electrode steps planted
    on one electrode at a time (``step_uv`` up at 2.5 s and back down at 7.5 s of every page, in
    the recording before filtering, as a contact potential jumps; with ``decay_s``, pops instead:
    up at 2.5 s and back with that time constant): one row per montage and electrode,
    ``{"montage", "electrode", "minutes", "findings", "near_steps"}``. Every finding is false;
    ``near_steps`` counts those within 0.6 s of a planted step."""
    from tqdm.auto import tqdm

    from cerebragloss.signals import read_recording

    recording = read_recording(path)
    duration = recording.data.shape[1] / recording.sfreq
    ups = np.arange(0.0, duration - 10.0 + 1e-9, 10.0) + 2.5
    steps = sorted([*ups, *(ups + 5.0)]) if decay_s is None else list(ups)
    shape = np.ones(int(5.0 * recording.sfreq)) if decay_s is None else np.exp(-np.arange(int(5.0 * recording.sfreq)) / recording.sfreq / decay_s)
    rows = []
    for electrode in tqdm(electrodes or recording.electrodes, desc="planted steps", disable=not progress):
        planted = recording.data.copy()
        row = recording.electrodes.index(electrode)
        for up in ups:
            planted[row, int(up * recording.sfreq) : int(up * recording.sfreq) + len(shape)] += step_uv * shape
        for montage in montages:
            annotations = engine_annotations(replace(recording, data=planted), montage, detector, settings)
            found = findings_in_recording_time(annotations, EPILEPTIFORM_CLASSES)
            near = [f for f in found if any(f["start_s"] - 0.6 <= s <= f["end_s"] + 0.6 for s in steps)]
            rows.append({"montage": montage, "electrode": electrode, "minutes": len(annotations) * 10.0 / 60,
                         "findings": len(found), "near_steps": len(near)})  # fmt: skip
    return rows


def planted_steps_table(rows: list[dict], step_uv: float, name: str, decay_s: float | None = None) -> str:
    planted = "steps" if decay_s is None else f"pops (back with time constant {decay_s:g} s)"
    when = "(up 2.5 s, down 7.5 s into every page)" if decay_s is None else "(2.5 s into every page)"
    lines = [f"{name}: {step_uv:g} uV {planted} planted on one electrode at a time {when}",
             f"| {'montage':<20} | {'electrodes with a finding':>25} | {'findings':>8} | {'near a step':>11} | {'per min, worst electrode':>24} |",
             f"|{'-' * 22}|{'-' * 27}|{'-' * 10}|{'-' * 13}|{'-' * 26}|"]  # fmt: skip
    for montage in dict.fromkeys(r["montage"] for r in rows):
        mine = [r for r in rows if r["montage"] == montage]
        worst = max(r["findings"] / r["minutes"] for r in mine)
        lines.append(f"| {montage:<20} | {sum(r['findings'] > 0 for r in mine):>14} of {len(mine):<8} | {sum(r['findings'] for r in mine):>8} | "
                     f"{sum(r['near_steps'] for r in mine):>11} | {worst:>24.2f} |")  # fmt: skip
    return "\n".join(lines)


#: Other recordings than the scored ones at hand (``--sleep-stress``): the public scored sleep
#: data the engine meets elsewhere is sampled at 50-256 Hz (a DREAMS spindle excerpt at 50 Hz),
#: is louder or quieter (reference, age), carries mains interference, and holds wake between the
#: sleep. Each variant keeps the expert's events, so the scores stay comparable.
SLEEP_RATES_HZ = (50.0, 100.0, 128.0, 256.0)
SLEEP_AMPLITUDES = (0.5, 2.0)
SLEEP_MAINS = ((50.0, 10.0), (60.0, 10.0))  #: (Hz, uV amplitude)
SLEEP_ECG_UV = (15.0, 60.0)  #: R-peak amplitudes of ECG picked up by the reference
#: how much of a healthy awake recording is played before and after the scored sleep
AWAKE_AROUND_S = 120.0


def sleep_variants(recording, awake: list) -> list[tuple[str, object, float]]:
    """``(name, recording, shift_s)`` per variant of a scored sleep recording (``shift_s``: where
    its scored events now start): resampled, scaled, with mains or ECG added (and the ECG with an
    ECG channel beside it), and with
    :data:`AWAKE_AROUND_S` of each awake recording in ``awake`` that has its electrodes played on
    either side (same electrodes, common mean taken away)."""
    from cerebragloss.signals.filters import resample as resampled
    from cerebragloss.signals.io import AuxChannel
    from cerebragloss.signals.simulate import cardiac_artifact, chest_ecg

    variants = [("as scored", recording, 0.0)]
    variants += [(f"sampled at {rate:g} Hz", replace(recording, data=resampled(recording.data, recording.sfreq, rate), sfreq=rate), 0.0)
                 for rate in SLEEP_RATES_HZ if rate != recording.sfreq]  # fmt: skip
    variants += [(f"amplitude x{gain:g}", replace(recording, data=recording.data * gain), 0.0) for gain in SLEEP_AMPLITUDES]
    t = np.arange(recording.data.shape[1]) / recording.sfreq
    variants += [(f"{amplitude:g} uV of {mains:g} Hz", replace(recording, data=recording.data + amplitude * np.sin(2 * np.pi * mains * t)), 0.0)
                 for mains, amplitude in SLEEP_MAINS]  # fmt: skip
    beating = [(f"{r_peak:g} uV of ECG", replace(recording, data=recording.data + cardiac_artifact(len(t), recording.sfreq, r_peak)))
               for r_peak in SLEEP_ECG_UV]  # fmt: skip
    variants += [(name, variant, 0.0) for name, variant in beating]
    # the same heartbeats with the ECG channel a polysomnogram records beside the EEG
    lead = AuxChannel("ECG", "ecg", chest_ecg(len(t), recording.sfreq))
    variants += [(f"{name}, with an ECG channel", replace(variant, aux=[*variant.aux, lead]), 0.0) for name, variant in beating]
    for other in awake:
        if not set(recording.electrodes) <= set(other.electrodes):
            continue
        rows = [other.electrodes.index(e) for e in recording.electrodes]
        piece = resampled(other.data[rows], other.sfreq, recording.sfreq)[:, : int(AWAKE_AROUND_S * recording.sfreq)]
        piece = piece - piece.mean(axis=1, keepdims=True)
        joined = np.concatenate([piece, recording.data, piece], axis=1)
        variants.append((f"{other.recording} awake around", replace(recording, data=joined, annotations=[]), piece.shape[1] / recording.sfreq))
    return variants


def stressed_sleep_scores(folder: str | Path, detector=None, settings=None, progress: bool = True) -> list[dict]:
    """Engine and YASA-default scores (as :func:`score_real`) of every scored sleep recording
    under ``folder`` in every :func:`sleep_variants` variant: ``{"recording", "variant",
    "engine", "yasa"}``."""
    from tqdm.auto import tqdm

    from cerebragloss.signals import read_recording

    folder = Path(folder)
    awake_paths = awake_recordings(folder)
    awake = [read_awake(p) for p in awake_paths]
    jobs = []
    for path in sorted(p for p in folder.rglob("*.edf") if p not in awake_paths):
        try:
            recording = read_recording(path)
        except Exception:  # noqa: BLE001 - test files of odd formats: not scored recordings
            continue
        if truth := scored_events(path, recording):
            jobs += [(path.stem, truth, *variant) for variant in sleep_variants(recording, awake)]
    rows = []
    for name, truth, variant, recording, shift in tqdm(jobs, desc="stressed sleep recordings", disable=not progress):
        moved = [dict(e, start_s=e["start_s"] + shift, end_s=e["end_s"] + shift) for e in truth]
        annotations = engine_annotations(recording, "auto", detector, settings)
        engine = score_events([moved], [findings_in_recording_time(annotations, SCORED_CLASSES)], 0.2, SCORED_CLASSES)
        rows.append({"recording": name, "variant": variant, "engine": engine,
                     "yasa": score_events([moved], [yasa_defaults(recording)], 0.2, SCORED_CLASSES)})  # fmt: skip
    return rows


def sleep_stress_table(rows: list[dict]) -> str:
    """Spindle and K-complex F1 (found) of the engine and of YASA's defaults per recording and variant."""
    lines = ["Scored sleep recordings as other recordings (time IoU >= 0.2, one-to-one): F1 (found)",
             f"| {'recording':<20} | {'variant':<46} | {'class':<13} | {'truth':>5} | {'engine':>11} | {'YASA defaults':>13} |",
             f"|{'-' * 22}|{'-' * 48}|{'-' * 15}|{'-' * 7}|{'-' * 13}|{'-' * 15}|"]  # fmt: skip
    for row in rows:
        for label in SCORED_CLASSES:
            e, y = row["engine"][label], row["yasa"][label]
            truth = e.true_positives + e.false_negatives
            if truth:
                engine, yasa = (f"{s.f1:.2f} ({s.true_positives + s.false_positives})" for s in (e, y))
                lines.append(f"| {row['recording']:<20} | {row['variant']:<46} | {label:<13} | {truth:>5} | {engine:>11} | {yasa:>13} |")
    return "\n".join(lines)
