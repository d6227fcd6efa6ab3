"""Sleep on the signal: transients on real single-channel sleep EEG, stages from the recording,
one event per thing in cleaning, and the few-channel artifact rules."""

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cerebragloss.detection.evaluate import score_events, time_iou
from cerebragloss.engine.annotate import EngineSettings, annotate
from cerebragloss.engine.artifacts import find_artifacts
from cerebragloss.engine.cleaning import one_event_each
from cerebragloss.engine.sleep import (
    SleepSettings,
    detect_sleep_transients,
    recording_contexts,
    sleep_states,
    spindle_search_mask,
    stage_from_annotation,
)
from cerebragloss.labels import EPILEPTIFORM_CLASSES
from cerebragloss.signals import read_recording, segments_from_recording
from cerebragloss.signals.io import Annotation, Recording


def _scored(shared_eeg, recording: str, label: str) -> list[dict]:
    with (shared_eeg / "sleep" / "events.csv").open() as handle:
        return [{"class": r["class"], "start_s": float(r["start_s"]), "end_s": float(r["end_s"])}
                for r in csv.DictReader(handle) if r["recording"] == recording and r["class"] == label]  # fmt: skip


#: the staging classifier's first use costs ~10 s of CPU (numba compiles its features at import):
#: the default tests leave it out, the slow ones stage
NO_STAGING = SleepSettings(staging_min_s=float("inf"))
NO_STAGING_ENGINE = EngineSettings(sleep=NO_STAGING)


def _annotated(path_or_recording, montage="as_recorded", settings=NO_STAGING):
    recording = path_or_recording if isinstance(path_or_recording, Recording) else read_recording(path_or_recording)
    segments = list(segments_from_recording(recording, montage))
    contexts = recording_contexts(recording, segments, settings)
    return [annotate(s, None, None, context=c) for s, c in zip(segments, contexts, strict=True)]


def _kept(annotations, label):
    found = []
    for a in annotations:
        kept = a["findings"].get("events", [])
        found += [{"class": label, "start_s": a["start_s"] + kept[i]["start_s"], "end_s": a["start_s"] + kept[i]["end_s"],
                   "confidence": kept[i]["confidence"]} for i in a["findings"].get("sleep_events", []) if kept[i]["class"] == label]  # fmt: skip
    return found


@pytest.mark.shared_data
def test_spindles_on_the_held_out_real_recording_beat_yasa_defaults(shared_eeg):
    # YASA's defaults score F1 0.53 here (sleep/README.md); the issue asks for >= 0.60.
    annotations = _annotated(shared_eeg / "sleep" / "spinky_c3_test.edf")
    found = _kept(annotations, "sleep_spindle")
    score = score_events([_scored(shared_eeg, "spinky_c3_test", "sleep_spindle")], [found], 0.2, ("sleep_spindle",))["sleep_spindle"]
    assert score.f1 >= 0.60, (score.precision, score.recall)
    assert all(e["source"] == "yasa" for a in annotations for e in a["events"])
    # N2 sigma activity is not a beta background (8 of these 30 pages were called beta before)
    beta = [a["start_s"] for a in annotations if a["background"]["channels"]["C3"]["band"] == "beta"]
    assert len(beta) <= 2, beta


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_long_unscored_sleep_recording_is_staged_as_sleep(shared_eeg):
    # 300 s without a hypnogram: staged by the classifier; the expert scored this excerpt as N2 sleep
    annotations = _annotated(shared_eeg / "sleep" / "spinky_c3_test.edf", settings=SleepSettings())
    stages = [a["sleep_state"]["stage"] for a in annotations]
    assert {a["sleep_state"]["source"] for a in annotations} == {"yasa_staging"} and "W" not in stages


@pytest.mark.shared_data
def test_k_complexes_are_found_on_one_channel_and_never_called_electrode_noise(shared_eeg):
    path = shared_eeg / "sleep" / "spinky_c3_kcomplex.edf"
    truth = _scored(shared_eeg, "spinky_c3_kcomplex", "k_complex")
    found = _kept(_annotated(path), "k_complex")
    hits = sum(any(time_iou((f["start_s"], f["end_s"]), (t["start_s"], t["end_s"])) >= 0.2 for f in found) for t in truth)
    # all three: the 80 uV one (in 0.5-4 Hz) is 61 uV in YASA's 0.3-1.5 Hz slow-wave band
    assert hits == len(truth) == 3 and len(found) == len(truth), found
    # The single-channel page has no "rest of the head": the electrode-noise rule must not divide by ~0.
    for segment in segments_from_recording(read_recording(path), "as_recorded"):
        for artifact in find_artifacts(segment.data, segment.sfreq, segment.channels):
            assert artifact["type"] != "electrode_noise", (segment.start_s, artifact)


@pytest.mark.shared_data
def test_no_k_complex_on_healthy_awake_eeg(shared_eeg):
    annotations = _annotated(shared_eeg / "eegmat" / "Subject00_2.edf", "average")
    assert _kept(annotations, "k_complex") == []


def test_stages_come_from_the_recordings_hypnogram_first():
    assert [stage_from_annotation(d) for d in ("Sleep stage W", "Sleep stage N2", "Sleep stage 4", "Sleep stage R", "Spindle")] == [
        "W", "N2", "N3", "R", None]  # fmt: skip

    class Scored:
        annotations = [Annotation(0.0, 30.0, "Sleep stage W"), Annotation(30.0, 30.0, "Sleep stage N2")]
        duration_s = 60.0

    states = sleep_states(Scored(), [0.0, 10.0, 20.0, 30.0, 40.0, 50.0], 10.0)
    assert [s["stage"] for s in states] == ["W", "W", "W", "N2", "N2", "N2"] and {s["source"] for s in states} == {"hypnogram"}


@pytest.mark.slow
def test_the_staging_classifier_stages_a_long_unscored_recording():
    class Unscored:
        annotations = []
        sfreq = 100.0
        electrodes = ["C4"]
        data = np.random.default_rng(0).normal(0, 20, (1, int(360 * 100)))
        duration_s = 360.0

    states = sleep_states(Unscored(), [0.0, 180.0], 10.0)
    assert all(s["source"] == "yasa_staging" and s["stage"] in {"W", "N1", "N2", "N3", "R"} and s["channel"] == "C4" for s in states)
    Unscored.data = Unscored.data[:, : 100 * 100]
    Unscored.duration_s = 100.0
    assert sleep_states(Unscored(), [0.0], 10.0)[0]["source"] == "page_rule"


@pytest.mark.slow
@pytest.mark.shared_data
def test_spindles_are_not_questioned_where_the_staging_classifier_is_unsure_of_wake(shared_eeg):
    # spinky_c3_train is N2 sleep, but on one C3 channel the classifier calls 18 of its 120 pages
    # W, 12 of them at probability 0.48-0.64 with 7 scored spindles on them; there the page shows
    # no alpha rhythm, so their spindles stay findings (recall 0.85; 0.75 when all were questioned)
    annotations = _annotated(shared_eeg / "sleep" / "spinky_c3_train.edf", settings=SleepSettings())
    unsure = [a for a in annotations if a["sleep_state"]["stage"] == "W" and a["sleep_state"]["probability"] < 0.8]
    assert len(unsure) >= 6 and all(a["sleep_state"]["source"] == "yasa_staging" for a in unsure)
    questioned = [e for a in unsure for e in a["findings"].get("events", []) if e.get("questioned")]
    kept = [i for a in unsure for i in a["findings"].get("sleep_events", [])]
    assert questioned == [] and len(kept) >= 5, (questioned, kept)
    score = score_events([_scored(shared_eeg, "spinky_c3_train", "sleep_spindle")], [_kept(annotations, "sleep_spindle")], 0.2,
                         ("sleep_spindle",))["sleep_spindle"]  # fmt: skip
    assert score.recall >= 0.8 and score.f1 >= 0.75, (score.precision, score.recall)


def test_a_page_on_its_own_is_searched_for_sleep_transients_and_says_so(shared_eeg):
    segment = next(segments_from_recording(read_recording(shared_eeg / "sleep" / "spinky_c3_kcomplex.edf"), "as_recorded", start_s=30.0, max_segments=1))
    annotation = annotate(segment)
    assert annotation["sleep_signal"]["ran"] and "shorter than" in annotation["sleep_signal"]["note"]
    assert any(e["class"] == "k_complex" and e["source"] == "yasa" for e in annotation["events"])
    assert annotation["detector"]["ran"] is False and "epileptiform discharges were not looked for" in annotation["findings"]["note"]


def test_a_detected_spindle_found_on_the_signal_is_fused_and_discharges_wait_for_cleaning():
    events = [
        {"class": "spike_and_slow_wave", "channels": ["P4-O2"], "start_s": 9.0, "end_s": 9.4, "confidence": 0.6, "source": "detector"},
        {"class": "sharp_and_slow_wave", "channels": ["P4-O2", "P8-O2"], "start_s": 9.1, "end_s": 9.5, "confidence": 0.4, "source": "detector"},
        {"class": "spike", "channels": ["F3-C3"], "start_s": 9.1, "end_s": 9.2, "confidence": 0.3, "source": "detector"},
        {"class": "sleep_spindle", "channels": ["C3-P3"], "start_s": 2.0, "end_s": 3.0, "confidence": 0.5, "source": "detector"},
        {"class": "sleep_spindle", "channels": ["C3-P3", "F3-C3"], "start_s": 2.2, "end_s": 3.1, "confidence": 0.7, "source": "yasa"},
    ]
    standing, decisions = one_event_each(events)
    # the detector's spindle is folded into the signal's; the two classes of one discharge are made
    # one after cleaning (one_finding_per_discharge), so that a dropped box cannot take the other with it
    assert sorted(standing) == [0, 1, 2, 4]
    assert standing[4]["confirmed_by"] == "detector"
    assert {d["event"]: d["decision"] for d in decisions} == {3: "fused"}


def test_electrode_noise_on_one_or_two_channels_needs_seconds_of_shaking():
    sfreq = 200.0
    rng = np.random.default_rng(0)
    quiet = rng.normal(0, 5, (1, int(10 * sfreq)))
    wave = quiet.copy()
    # a K-complex with its slow after-wave: 1.5 s of 100 uV (the old rule called any >= 60 uV
    # stretch of >= 1.25 s on a lone channel electrode noise, with a score of ~1e11)
    t = np.arange(int(1.5 * sfreq)) / sfreq
    wave[0, 800:1100] += 100 * np.sin(2 * np.pi * 1.5 * t)
    shaking = quiet.copy()
    shaking[0, 400:1400] += 80 * np.sin(2 * np.pi * 6.0 * np.arange(1000) / sfreq)  # 5 s of a loose electrode
    for data, expected in ((wave, False), (shaking, True)):
        for channels, rows in ((["C3"], data), (["C3", "C4"], np.vstack([data, quiet]))):
            found = [a for a in find_artifacts(rows, sfreq, channels) if a["type"] == "electrode_noise"]
            assert bool(found) == expected, (channels, found)
            assert all(a["score"] < 1e3 for a in found)


@pytest.mark.shared_data
def test_alpha_waves_of_a_healthy_awake_subject_are_not_kept_as_discharges(shared_eeg):
    # eegmat Subject00_2 (1 min of mental arithmetic, eyes closed): the default detector reads
    # posterior alpha waves as sharp/spike-and-slow waves; cleaning must drop them (issue 12:
    # <= 0.1 epileptiform findings per minute on healthy awake EEG).
    from cerebragloss.detection.detector import DEFAULT_WEIGHTS, WaveformDetector
    from cerebragloss.evaluation.engine_real import engine_annotations

    annotations = engine_annotations(read_recording(shared_eeg / "eegmat" / "Subject00_2.edf"), "longitudinal_bipolar",
                                     WaveformDetector(DEFAULT_WEIGHTS), NO_STAGING_ENGINE)  # fmt: skip
    kept = [(a["start_s"], a["findings"]["events"][i]["class"]) for a in annotations for i in a["findings"]["epileptiform"]]
    assert kept == []
    dropped = [d["reason"] for a in annotations for d in a["findings"]["decisions"] if "stand out" in d["reason"]]
    # where the detector fired there, the guard is what removed it (issue 12's retrained detector
    # may not fire on these alpha waves at all)
    fired = [e for a in annotations for e in a["events"] if e.get("source") == "detector" and e["class"] in EPILEPTIFORM_CLASSES]
    assert dropped or not fired


def test_annotated_simulated_recordings_take_their_stage_from_the_hypnogram(annotations):
    # the simulator writes its states as EDF+ "Sleep stage" annotations; run.py passes them on
    states = {(a["recording"], a["start_s"]): a["sleep_state"] for a in annotations}
    assert {s["source"] for s in states.values()} == {"hypnogram"}
    assert {s["stage"] for s in states.values()} >= {"W", "N2"}
    assert all(a["schema"] == 2 and a["sleep_signal"]["ran"] for a in annotations)


def test_no_posterior_dominant_rhythm_is_reported_in_n2_or_n3(annotations):
    # the PDR is the waking rhythm: a posterior theta peak of N2 (the simulator's central theta)
    # was reported as a "theta PDR" on most N2 pages, and the captions said so
    pdr = {a["sleep_state"]["stage"]: [] for a in annotations}
    for a in annotations:
        pdr[a["sleep_state"]["stage"]].append(a["background"]["posterior_dominant_rhythm"])
    asleep = pdr.get("N2", []) + pdr.get("N3", [])
    assert asleep and not any(p["present"] for p in asleep)
    assert all("waking rhythm" in p["reason"] for p in asleep)
    assert any(p["present"] and p["band"] == "alpha" for p in pdr["W"])


@pytest.mark.shared_data
def test_a_recording_sampled_at_50_hz_is_searched_and_staged_by_the_page_rule(shared_eeg):
    # Public scored sleep data includes 50 Hz recordings (a DREAMS spindle excerpt); YASA's 1-30 Hz
    # broadband and its staging classifier (>= 80 Hz) cannot be built there, which crashed the engine.
    from scipy.signal import resample_poly

    recording = read_recording(shared_eeg / "sleep" / "spinky_c3_train.edf")
    low = replace(recording, data=resample_poly(recording.data, 1, 20, axis=1), sfreq=50.0)
    states = sleep_states(low, [0.0, 600.0], 10.0)
    assert [s["source"] for s in states] == ["page_rule"] * 2 and "50 Hz" in states[0]["note"]
    found = recording_contexts(low, list(segments_from_recording(low, "as_recorded")), NO_STAGING)
    spindles = [dict(e, start_s=e["start_s"] + 10.0 * i, end_s=e["end_s"] + 10.0 * i)
                for i, c in enumerate(found) for e in c["sleep"]["events"] if e["class"] == "sleep_spindle"]  # fmt: skip
    score = score_events([_scored(shared_eeg, "spinky_c3_train", "sleep_spindle")], [spindles], 0.2, ("sleep_spindle",))["sleep_spindle"]
    assert score.f1 >= 0.6, (score.precision, score.recall)  # 0.77 at 50 Hz, 0.73 at 1000 Hz (with cleaning)


def _simulated_n2_spindles(paths, montage: str, settings: SleepSettings) -> tuple[list, list]:
    """Truth spindles and the spindles handed to the pages of ``montage``, in recording time."""
    import json

    truths, founds = [], []
    for path in paths:
        truth = json.loads(path.with_name(path.stem + ".events.json").read_text())["events"]
        truths.append([{"class": e["class"], "start_s": e["onset_s"], "end_s": e["offset_s"]} for e in truth if e["class"] == "sleep_spindle"])
        recording = read_recording(path)
        segments = list(segments_from_recording(recording, montage))
        found = []
        for segment, context in zip(segments, recording_contexts(recording, segments, settings), strict=True):
            for event in context["sleep"]["events"]:
                assert set(event["channels"]) <= set(segment.channels), "an event is put on the channels the page draws"
                if event["class"] == "sleep_spindle":
                    found.append(dict(event, start_s=segment.start_s + event["start_s"], end_s=segment.start_s + event["end_s"]))
        founds.append(found)
    return truths, founds


def test_spindles_of_a_full_cap_are_searched_on_the_average_whatever_montage_the_page_shows(tmp_path):
    """A bipolar pair of neighbours cancels most of a wide spindle: the double banana's pages get
    the spindles found on the common average, on the channels involving their electrodes, and
    find no fewer of the simulated ones than a search of the double banana's own channels (26
    subjects x 3 min: F1 0.72 against 0.65; these 3 x 2 min are too few to show the margin)."""
    from cerebragloss.signals.simulate import SimulationSettings, simulate_recordings

    paths = simulate_recordings(tmp_path, subjects=3, minutes=2.0, seed=5, prefix="n2sim", settings=SimulationSettings(
        states=["n2"], artifacts_per_page=0.0, classes=["sleep_spindle", "k_complex"]))  # fmt: skip
    truth, on_average = _simulated_n2_spindles(paths, "average", NO_STAGING)
    _, on_banana = _simulated_n2_spindles(paths, "longitudinal_bipolar", NO_STAGING)
    _, banana_searched = _simulated_n2_spindles(paths, "longitudinal_bipolar", replace(NO_STAGING, signal="page"))
    assert [[(e["start_s"], e["end_s"]) for e in f] for f in on_banana] == [[(e["start_s"], e["end_s"]) for e in f] for f in on_average]
    for banana_found, average_found in zip(on_banana, on_average, strict=True):
        for banana, average in zip(banana_found, average_found, strict=True):
            electrodes = {c.removesuffix("-AVG") for c in average["channels"]}
            assert all(set(c.split("-")) & electrodes for c in banana["channels"])
    found, searched = (score_events(truth, f, 0.2, ["sleep_spindle"])["sleep_spindle"] for f in (on_banana, banana_searched))
    assert sum(map(len, truth)) >= 20
    assert found.f1 >= searched.f1, (found, searched)


def test_k_complexes_are_looked_for_where_their_sharp_wave_keeps_its_amplitude(tmp_path):
    """YASA's slow-wave band (0.3-1.5 Hz) keeps ~40 % of a K-complex's 0.25-0.4 s negative wave,
    so most of the simulator's K-complexes (75-220 uV peak-to-peak) fell under the AASM amplitude
    there; they are also looked for in 0.5-4 Hz, where they need only half of it (the standout
    decides). Searched on the common average of simulated N2."""
    from cerebragloss.engine.sleep import detect_slow_waves, merge_across_channels, montage_span
    from cerebragloss.signals.simulate import SimulationSettings, simulate_recordings

    paths = simulate_recordings(tmp_path, subjects=5, minutes=2.0, seed=5, prefix="kcsim", settings=SimulationSettings(
        states=["n2"], artifacts_per_page=0.0))  # fmt: skip
    slow_waves_only = SleepSettings(kcomplex_band_hz=(0.3, 1.5), kcomplex_negative_uv=(40.0, 200.0), kcomplex_peak_to_peak_uv=(75.0, 350.0))
    truths, found = [], {"slow waves only": [], "default": []}
    for path in paths:
        recording = read_recording(path)
        truth = json.loads(Path(str(path).removesuffix(".edf") + ".events.json").read_text())["events"]
        truths.append([{"class": e["class"], "start_s": e["onset_s"], "end_s": e["offset_s"]} for e in truth if e["class"] == "k_complex"])
        data, sfreq, channels = montage_span(recording, "average", 0.0, recording.duration_s)
        for name, settings in (("slow waves only", slow_waves_only), ("default", SleepSettings())):
            found[name].append(merge_across_channels(detect_slow_waves(data, sfreq, channels, settings)[0]))
    scores = {name: score_events(truths, f, 0.2, ["k_complex"])["k_complex"] for name, f in found.items()}
    assert sum(map(len, truths)) >= 20
    assert scores["default"].recall >= scores["slow waves only"].recall + 0.4, scores  # 0.75 against 0.20
    assert scores["default"].precision >= 0.8 and scores["default"].f1 >= 0.8, scores


@pytest.mark.shared_data
def test_a_quieter_head_keeps_its_k_complexes(shared_eeg):
    """The AASM gives a K-complex no amplitude, only that it stands out: played at half its
    amplitude, spinky_c3_kcomplex keeps two of its three (96 and 211 uV peak-to-peak become 48 and
    105; with the slow waves' 75 uV asked, only the largest was found)."""
    from cerebragloss.engine.sleep import detect_slow_waves

    recording = read_recording(shared_eeg / "sleep" / "spinky_c3_kcomplex.edf")
    truth = _scored(shared_eeg, "spinky_c3_kcomplex", "k_complex")
    found = detect_slow_waves(recording.data * 0.5, recording.sfreq, recording.electrodes, SleepSettings())[0]
    score = score_events([truth], [found], 0.2, ("k_complex",))["k_complex"]
    assert score.true_positives >= 2 and score.false_positives == 0, score


def _page_signal(shared_eeg, name: str) -> tuple:
    recording = read_recording(shared_eeg / "sleep" / f"{name}.edf")
    segments = list(segments_from_recording(recording, "as_recorded"))
    return recording, np.concatenate([s.data for s in segments], axis=1), segments[0].sfreq


@pytest.mark.shared_data
def test_the_recordings_ecg_channel_times_the_heartbeat_taken_out_of_the_eeg(shared_eeg):
    # 20 uV of ECG in C3: timed on the EEG itself, 13 % of the beats are a QRS wave off (spindles and
    # beta of the QRS's size) and the misplaced template leaves spindle F1 at 0.65; a chest lead
    # (ECG channel, in V, with its own noise) times every beat, as in a polysomnogram
    from cerebragloss.signals.io import AuxChannel
    from cerebragloss.signals.simulate import cardiac_artifact, chest_ecg

    recording = read_recording(shared_eeg / "sleep" / "spinky_c3_test.edf")
    samples = recording.data.shape[1]
    beating = replace(recording, data=recording.data + cardiac_artifact(samples, recording.sfreq, 20.0)[None])
    lead = AuxChannel("ECG", "ecg", chest_ecg(samples, recording.sfreq))
    truth = _scored(shared_eeg, "spinky_c3_test", "sleep_spindle")
    scores, notes = {}, {}
    for name, case in (("eeg", beating), ("lead", replace(beating, aux=[lead]))):
        annotations = _annotated(case)
        scores[name] = score_events([truth], [_kept(annotations, "sleep_spindle")], 0.2, ("sleep_spindle",))["sleep_spindle"]
        notes[name] = {a["sleep_signal"].get("note", "") for a in annotations}
    assert all("beats from the ECG channel" in note for note in notes["lead"]), notes["lead"]
    assert all("beats from the EEG" in note for note in notes["eeg"]), notes["eeg"]
    assert scores["lead"].f1 >= 0.75, scores["lead"]  # 0.77 with no ECG at all
    assert scores["eeg"].f1 < scores["lead"].f1, "the EEG now times the beats as well as the lead: raise the bar"


@pytest.mark.shared_data
def test_a_louder_head_gets_the_same_spindles(shared_eeg):
    # YASA caps its relative RMS threshold at 10 uV; spinky_c3_test's is 6.2 uV, so at x2 the cap
    # decided and 28 spindles were found instead of 19 (precision 0.79 -> 0.53 in the engine)
    from cerebragloss.engine.sleep import detect_spindles

    _, data, sfreq = _page_signal(shared_eeg, "spinky_c3_test")
    quiet, loud = (detect_spindles(data * gain, sfreq, ["C3"], SleepSettings()) for gain in (1.0, 2.5))
    assert len(quiet) >= 15
    assert [(e["start_s"], e["end_s"]) for e in loud] == [(e["start_s"], e["end_s"]) for e in quiet]
    assert [e["amplitude_uv"] for e in loud] == pytest.approx([2.5 * e["amplitude_uv"] for e in quiet], abs=0.2)


@pytest.mark.shared_data
def test_mains_interference_hides_no_sleep_transient_found_on_the_signal(shared_eeg):
    # 10 uV of 50 Hz is a line-noise artifact on every page; it masked every spindle (F1 0.00) and
    # widened the K-complexes' background by 20 uV (one of the two found was lost)
    scores = {}
    for name, label in (("spinky_c3_test", "sleep_spindle"), ("spinky_c3_kcomplex", "k_complex")):
        recording = read_recording(shared_eeg / "sleep" / f"{name}.edf")
        hum = 10.0 * np.sin(2 * np.pi * 50.0 * np.arange(recording.data.shape[1]) / recording.sfreq)
        annotations = _annotated(replace(recording, data=recording.data + hum))
        assert all(any(a["type"] == "line_noise" for a in page["artifacts"]) for page in annotations)
        truth = _scored(shared_eeg, name, label)
        scores[label] = score_events([truth], [_kept(annotations, label)], 0.2, (label,))[label]
    assert scores["sleep_spindle"].f1 >= 0.7, scores  # 0.77 without the hum
    assert scores["k_complex"].true_positives == 3, scores  # as without it


@pytest.mark.shared_data
def test_a_heartbeat_picked_up_by_the_reference_hides_no_spindle(shared_eeg):
    # 60 uV of ECG: each QRS rings in the sigma band and raises the relative threshold; searched
    # with it, 5 spindles are found (F1 0.32 in the engine); the heartbeat is subtracted first
    from cerebragloss.signals.simulate import cardiac_artifact

    _, data, sfreq = _page_signal(shared_eeg, "spinky_c3_test")
    beating = data + cardiac_artifact(data.shape[1], sfreq, 60.0)[None]
    truth = _scored(shared_eeg, "spinky_c3_test", "sleep_spindle")
    scores = {}
    for remove in (False, True):
        found = detect_sleep_transients(beating, sfreq, ["C3"], replace(NO_STAGING, remove_heartbeat=remove))
        spindles = [e for e in found["events"] if e["class"] == "sleep_spindle"]
        scores[remove] = score_events([truth], [spindles], 0.2, ("sleep_spindle",))["sleep_spindle"]
    assert "heartbeat (ECG) subtracted from 1 of 1 channels" in found["note"]
    assert scores[False].f1 < 0.5, "the ECG no longer hides spindles: this test needs a louder heartbeat"
    assert scores[True].f1 >= 0.7, (scores[True].precision, scores[True].recall)


@pytest.mark.shared_data
def test_spindles_are_searched_where_the_sigma_band_is_quiet_between_them(shared_eeg):
    # Two minutes of a motor-task C3 (eegbci, mu and muscle: its sigma band 4.7x sleep's) on either
    # side of spinky_c3_test raised YASA's relative threshold (mean moving RMS + 3.5 SD over all
    # of it): the engine kept 7 spindles (F1 0.30), and this search without the mask finds F1 < 0.5
    from scipy.signal import resample_poly

    _, data, sfreq = _page_signal(shared_eeg, "spinky_c3_test")
    awake = read_recording(shared_eeg / "eegbci" / "S001R03.edf")
    motor = resample_poly(awake.data[awake.electrodes.index("C3")], int(sfreq), int(awake.sfreq))[: int(120 * sfreq)]
    joined = np.concatenate([motor - motor.mean(), data[0], motor - motor.mean()])[None]
    pages = joined.shape[1] // int(10 * sfreq)
    asleep, why = spindle_search_mask([{"stage": None}] * pages, joined, sfreq, NO_STAGING)
    assert why == "spindles not searched on 24 pages busy in the sigma band throughout"
    page = int(10 * sfreq)
    assert not asleep[: 12 * page].any() and asleep[12 * page : 42 * page].all() and not asleep[42 * page :].any()
    truth = _scored(shared_eeg, "spinky_c3_test", "sleep_spindle")
    scores = []
    for mask in (None, asleep):
        found = detect_sleep_transients(joined, sfreq, ["C3"], NO_STAGING, mask, why if mask is not None else "")
        spindles = [dict(e, start_s=e["start_s"] - 120.0, end_s=e["end_s"] - 120.0) for e in found["events"] if e["class"] == "sleep_spindle"]
        scores.append(score_events([truth], [spindles], 0.2, ("sleep_spindle",))["sleep_spindle"])
    assert why in found["note"]
    unmasked, score = scores
    assert unmasked.f1 < 0.5, "the motor C3 no longer raises the threshold: this test needs a louder neighbour"
    assert score.f1 >= 0.7, (score.precision, score.recall)


@pytest.mark.shared_data
def test_the_quieter_pages_of_the_sigma_band_are_read_among_the_pages_searched(shared_eeg):
    # Two minutes of awake BioSemi C3 on either side of spinky_c3_test, scored W: quieter in sigma
    # than the N2 between, they set the "quieter pages" and 9 N2 pages were called busy (9 of the
    # 20 spindles lost). Read among the 30 pages searched, no N2 page is busy.
    from cerebragloss.evaluation.engine_real import read_awake
    from cerebragloss.signals.filters import resample

    _, data, sfreq = _page_signal(shared_eeg, "spinky_c3_test")
    awake = read_awake(shared_eeg / "bdf" / "multiple_annotation_chans.bdf")
    quiet = resample(awake.data[awake.electrodes.index("C3")][None], awake.sfreq, sfreq)[0, : int(120 * sfreq)]
    joined = np.concatenate([quiet - quiet.mean(), data[0], quiet - quiet.mean()])[None]
    states = [{"stage": "W", "source": "hypnogram"}] * 12 + [{"stage": "N2", "source": "hypnogram"}] * 30 + [{"stage": "W", "source": "hypnogram"}] * 12
    asleep, why = spindle_search_mask(states, joined, sfreq, NO_STAGING)
    assert why == "spindles not searched on 24 pages staged awake"
    page = int(10 * sfreq)
    assert asleep[12 * page : 42 * page].all() and not asleep[: 12 * page].any() and not asleep[42 * page :].any()


def test_a_recording_is_searched_in_windows_of_equal_length():
    # cut greedily, a recording one page longer than a window left that page alone, with thresholds
    # relative to its own 10 s
    from cerebragloss.engine.sleep import PAGES_PER_WINDOW, detection_windows

    for pages, sizes in ((30, [30]), (PAGES_PER_WINDOW, [180]), (PAGES_PER_WINDOW + 1, [91, 90]), (2 * PAGES_PER_WINDOW + 1, [121, 120, 120])):
        windows = detection_windows(list(range(pages)))
        assert sorted(map(len, windows), reverse=True) == sizes
        assert [page for window in windows for page in window] == list(range(pages))


def test_pages_the_recording_says_are_awake_are_not_searched_for_spindles():
    # scored W, or W by the staging classifier at least wake_min_probability sure; an unsure W is
    # searched (cleaning questions its spindles if the page looks awake)
    states = [{"stage": "W", "source": "hypnogram"}, {"stage": "N2", "source": "hypnogram"},
              {"stage": "W", "source": "yasa_staging", "probability": 0.9}, {"stage": "W", "source": "yasa_staging", "probability": 0.6}]  # fmt: skip
    noise = np.random.default_rng(0).normal(0.0, 10.0, (1, 4 * 2000))
    asleep, why = spindle_search_mask(states, noise, 200.0, SleepSettings())
    assert why == "spindles not searched on 2 pages staged awake"
    assert [bool(asleep[i * 2000 : (i + 1) * 2000].all()) for i in range(4)] == [False, True, False, True]
    assert [bool(asleep[i * 2000 : (i + 1) * 2000].any()) for i in range(4)] == [False, True, False, True]
    assert spindle_search_mask(states[1:2] * 4, noise, 200.0, SleepSettings()) == (None, "")
