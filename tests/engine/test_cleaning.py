"""Cleaning decisions on pages with known content."""

import re

import numpy as np
import pytest

from cerebragloss.engine.artifacts import find_artifacts
from cerebragloss.engine.background import analyse_background
from cerebragloss.engine.cleaning import clean_events, dipole_estimate
from cerebragloss.signals import TEN_TWENTY, apply_montage
from cerebragloss.signals.transients import make_artifact, make_event
from tests.engine.pages import POSITIONS, SFREQ, simulated_page


@pytest.mark.parametrize("montage", ["longitudinal_bipolar", "as_recorded", "average"])
def test_dipole_estimate_finds_the_focus_of_focal_spikes(montage):
    rng = np.random.default_rng(4)
    right = 0
    for seed in range(12):
        spike = make_event("spike", 4.0, SFREQ, POSITIONS, rng)
        focus = max(spike.gains, key=lambda e: spike.gains[e])
        data, channels = simulated_page([spike], seed=seed, montage=montage)
        estimate = dipole_estimate(data, SFREQ, channels, montage, spike.onset_s - 0.05, spike.offset_s + 0.05)
        right += estimate["focus"] == focus
        assert estimate["polarity"] == "negative" and estimate["method"]
    assert right >= 10, f"{montage}: focus right on {right} of 12"


def test_a_detection_inside_strong_artifact_on_its_channels_is_masked():
    rng = np.random.default_rng(1)
    emg = make_artifact("emg", 2.0, SFREQ, POSITIONS, rng, max_duration_s=5.0)
    data, channels = simulated_page([emg])
    artifacts = find_artifacts(data, SFREQ, channels)
    emg_found = next(a for a in artifacts if a["type"] == "emg")
    event = {"class": "spike", "channels": emg_found["channels"][:2], "start_s": emg_found["start_s"] + 0.2,
             "end_s": emg_found["start_s"] + 0.4, "confidence": 0.6}  # fmt: skip
    findings = clean_events(data, SFREQ, channels, "longitudinal_bipolar", [event], artifacts, analyse_background(data, SFREQ, channels))
    assert findings["events"] == [] and findings["decisions"][0]["decision"] == "masked"
    assert "emg" in findings["decisions"][0]["reason"]


def test_isolated_single_channel_detection_is_dropped_unless_confident():
    data, channels = simulated_page(seed=3)
    # a sharp deflection on that one channel only: it stands out of the background, without a field
    data[channels.index("C3-P3"), int(5.0 * SFREQ) : int(5.2 * SFREQ)] -= 80 * np.bartlett(int(0.2 * SFREQ))
    event = {"class": "sharp_wave", "channels": ["C3-P3"], "start_s": 5.0, "end_s": 5.2, "confidence": 0.5}
    background = analyse_background(data, SFREQ, channels)
    dropped = clean_events(data, SFREQ, channels, "longitudinal_bipolar", [event], [], background)
    assert dropped["events"] == [] and dropped["decisions"][0]["decision"] == "dropped"
    sure = clean_events(data, SFREQ, channels, "longitudinal_bipolar", [dict(event, confidence=0.9)], [], background)
    assert len(sure["events"]) == 1 and "dipole" in sure["events"][0]


def test_a_real_focal_discharge_has_field_support_and_is_kept():
    rng = np.random.default_rng(2)
    kept = 0
    for seed in range(6):
        spike = make_event("sharp_wave", 4.0, SFREQ, POSITIONS, rng)
        data, channels = simulated_page([spike], seed=seed)
        focus = max(spike.gains, key=lambda e: spike.gains[e])
        channel = next(c for c in channels if focus in c.split("-"))
        event = {"class": "sharp_wave", "channels": [channel], "start_s": spike.onset_s, "end_s": spike.offset_s, "confidence": 0.5}
        findings = clean_events(data, SFREQ, channels, "longitudinal_bipolar", [event], [], analyse_background(data, SFREQ, channels))
        kept += len(findings["events"])
    assert kept >= 5


@pytest.mark.parametrize("montage", ["average", "as_recorded"])
def test_a_focal_discharge_on_one_referential_row_keeps_its_field_from_the_next_electrodes(montage):
    # Drawn against a reference, a focal discharge is one row, and its neighbours carry only the
    # field's fall-off (the simulator's 0.1-0.3): at the bipolar thresholds (0.3 of its peak and
    # 1.5x their own background) most were dropped as fieldless (engine on simulated awake pages:
    # 110 of 293 found in the average montage, 161 now).
    from cerebragloss.engine.cleaning import CleaningSettings

    bipolar_thresholds = CleaningSettings(referential_support_ratio=0.3, referential_support_above_background=1.5)
    kept = {"now": 0, "bipolar thresholds": 0}
    for seed in range(12):
        rng = np.random.default_rng(seed)
        spike = make_event("spike", 4.0, SFREQ, POSITIONS, rng)
        data, channels = simulated_page([spike], seed=seed, montage=montage)
        focus = max(spike.gains, key=lambda e: spike.gains[e])
        channel = next(c for c in channels if c.split("-")[0] == focus)
        event = {"class": "spike", "channels": [channel], "start_s": spike.onset_s, "end_s": spike.offset_s + 0.05, "confidence": 0.5}
        background = analyse_background(data, SFREQ, channels)
        for arm, settings in (("now", None), ("bipolar thresholds", bipolar_thresholds)):
            kept[arm] += len(clean_events(data, SFREQ, channels, montage, [event], [], background, settings)["events"])
    assert kept["now"] >= 6 and kept["bipolar thresholds"] <= kept["now"] // 2, kept


def test_sleep_transients_on_an_awake_page_are_questioned_not_dropped():
    rng = np.random.default_rng(0)
    spindle = make_event("sleep_spindle", 3.0, SFREQ, POSITIONS, rng)
    data, channels = simulated_page([spindle], state="awake", seed=1)
    event = {"class": "sleep_spindle", "channels": ["Fz-Cz", "Cz-Pz"], "start_s": 3.0, "end_s": spindle.offset_s, "confidence": 0.7}
    findings = clean_events(data, SFREQ, channels, "longitudinal_bipolar", [event], [], analyse_background(data, SFREQ, channels))
    assert findings["awake_background"] and findings["events"][0]["questioned"]
    assert findings["decisions"][0]["decision"] == "questioned" and findings["sleep_events"] == []
    asleep, channels = simulated_page([spindle], state="n2", seed=1)
    findings = clean_events(asleep, SFREQ, channels, "longitudinal_bipolar", [event], [], analyse_background(asleep, SFREQ, channels))
    assert findings["decisions"][0]["decision"] == "kept" and len(findings["sleep_events"]) == 1


def _eegmat_page(shared_eeg, step_uv: float, montage: str = "longitudinal_bipolar"):
    """Page 2 (10-20 s) of a healthy resting recording, with a ``step_uv`` step on O2 from 12.5 to
    17.5 s planted into the recording before filtering (as an electrode's contact potential jumps)."""
    from dataclasses import replace

    from cerebragloss.signals import read_recording, segments_from_recording

    recording = read_recording(shared_eeg / "eegmat" / "Subject00_1.edf")
    planted = recording.data.copy()
    row = recording.electrodes.index("O2")
    planted[row, int(12.5 * recording.sfreq) : int(17.5 * recording.sfreq)] += step_uv
    (segment,) = segments_from_recording(replace(recording, data=planted), montage, start_s=10.0, max_segments=1)
    return segment


#: What the default detector reported on that page with the step (confidence 0.27 > 0.25; 0.21
#: without it): the alpha burst the step falls into, read as a spike-and-slow-wave.
STEP_DETECTION = {"class": "spike_and_slow_wave", "start_s": 6.5, "end_s": 7.71, "confidence": 0.27, "source": "detector",
                  "channels": ["P8-O2", "Fp1-F3", "F3-C3", "C3-P3", "P3-O1", "Fp2-F4", "F4-C4", "C4-P4", "P4-O2", "Fz-Cz"]}  # fmt: skip


@pytest.mark.parametrize("montage", ["longitudinal_bipolar", "as_recorded"])
def test_a_40_uv_electrode_step_on_a_real_recording_is_not_called_a_spike(shared_eeg, montage):
    # Below the 80 uV pop rule, a step on one electrode was kept as an epileptiform discharge.
    channels_of = {"longitudinal_bipolar": STEP_DETECTION["channels"], "as_recorded": ["P4", "O1", "O2", "P8"]}
    event = dict(STEP_DETECTION, channels=channels_of[montage])
    from cerebragloss.engine.annotate import annotate

    for step_uv, called_a_step in ((40.0, True), (0.0, False)):
        # the whole engine on that page, with the detector's event handed in (its weights change)
        findings = annotate(_eegmat_page(shared_eeg, step_uv, montage), events=[event])["findings"]
        (decision,) = [d for d in findings["decisions"] if d["class"] == event["class"]]
        # the step down at 7.5 s (a 40 uV step reads 38-49 uV in 10 ms with the alpha on top)
        assert bool(re.search(r"electrode step on O2 at 7\.(49|50) s", decision["reason"])) == called_a_step, (step_uv, decision)
        if called_a_step:
            assert decision["decision"] == "dropped" and findings["epileptiform"] == []


def _focal_discharges(montage: str = "longitudinal_bipolar"):
    """12 simulated focal discharges of each epileptiform class on awake pages: ``(label, seed,
    focus, data, channels, event)``, the event on the channels through the focus electrode."""
    for label in ("spike", "sharp_wave", "spike_and_slow_wave", "sharp_and_slow_wave", "polyspike"):
        rng = np.random.default_rng(11)
        for seed in range(12):
            discharge = make_event(label, 4.0, SFREQ, POSITIONS, rng)
            data, channels = simulated_page([discharge], seed=seed, montage=montage)
            focus = max(discharge.gains, key=lambda e: discharge.gains[e])
            event = {"class": label, "channels": [c for c in channels if focus in c.split("-")], "start_s": discharge.onset_s,
                     "end_s": discharge.offset_s, "confidence": 0.5}  # fmt: skip
            yield label, seed, focus, data, channels, event


def test_focal_discharges_are_rarely_taken_for_electrode_steps():
    # The simulator's focal discharges have little field (neighbours at 0.1-0.3 of the focus): only
    # their time course tells them from a step on one electrode. Measured on 60 per class: one
    # sharp wave whose background alpha held the level (CleaningSettings.step_*).
    from cerebragloss.engine.cleaning import CleaningSettings, electrode_step

    called = []
    for label, seed, focus, data, channels, event in _focal_discharges():
        if electrode_step(data, SFREQ, channels, event, CleaningSettings()) is not None:
            called.append((label, seed, focus))
    assert len(called) <= 1, called


#: What the default detector reports at confidence 0.17 on eegmat Subject00_2 (mental arithmetic),
#: page 30-40 s, average montage: a burst of muscle on F7 (30-45 Hz ~20 uV against ~3 uV around it)
#: read as a polyspike.
MUSCLE_DETECTION = {"class": "polyspike", "channels": ["F7-AVG"], "start_s": 9.4, "end_s": 9.684, "confidence": 0.17, "source": "detector"}


def test_a_real_muscle_burst_read_as_a_polyspike_is_dropped(shared_eeg):
    from cerebragloss.engine.annotate import annotate
    from cerebragloss.signals import read_recording, segments_from_recording

    recording = read_recording(shared_eeg / "eegmat" / "Subject00_2.edf")
    (page,) = segments_from_recording(recording, "average", start_s=30.0, max_segments=1)
    findings = annotate(page, events=[MUSCLE_DETECTION])["findings"]
    (decision,) = [d for d in findings["decisions"] if d["class"] == "polyspike"]
    assert decision["decision"] == "dropped" and "inside a burst of muscle on F7-AVG" in decision["reason"], decision
    assert findings["epileptiform"] == []
    # the same box where F7 carries no burst (2.0 s earlier) is not called muscle
    quiet = dict(MUSCLE_DETECTION, start_s=7.4, end_s=7.684)
    (decision,) = [d for d in annotate(page, events=[quiet])["findings"]["decisions"] if d["class"] == "polyspike"]
    assert "muscle" not in decision["reason"], decision


@pytest.mark.parametrize("montage", ["longitudinal_bipolar", "average"])
def test_muscle_bursts_are_told_from_discharges(montage):
    # Measured: 0 of 60 simulated discharges (12 per class) on their focus channels are called
    # muscle, and 12 of 12 simulated short muscle bursts under a 0.3 s box are.
    from cerebragloss.engine.cleaning import CleaningSettings, muscle_burst
    from cerebragloss.signals.transients import make_muscle_burst

    called = []
    for label, seed, focus, data, channels, event in _focal_discharges(montage):
        if muscle_burst(data, SFREQ, channels, event, CleaningSettings()) is not None:
            called.append((label, seed, focus))
    assert called == []
    rng, bursts_called = np.random.default_rng(5), 0
    for seed in range(12):
        burst = make_muscle_burst(4.0, SFREQ, POSITIONS, rng, max_duration_s=5.0)
        data, channels = simulated_page([burst], seed=seed, montage=montage)
        event = {"class": "polyspike", "channels": [c for c in channels if set(c.split("-")) & set(burst.channels)],
                 "start_s": burst.onset_s + 0.05, "end_s": min(burst.offset_s, burst.onset_s + 0.35)}  # fmt: skip
        bursts_called += muscle_burst(data, SFREQ, channels, event, CleaningSettings()) is not None
    assert bursts_called >= 11


#: What the default detector reports on eegmat Subject00_1 (rest, eyes closed) played at x1.3
#: amplitude, page 0-10 s, double banana: a burst of the 10 Hz posterior alpha on P8-O2 read as a
#: polyspike (confidence 0.34; `score_engine --real --stress` found it).
ALPHA_DETECTION = {"class": "polyspike", "channels": ["P8-O2"], "start_s": 0.823, "end_s": 1.114, "confidence": 0.34, "source": "detector"}


def test_a_real_alpha_burst_read_as_a_polyspike_is_measured_against_the_alpha_around_it(shared_eeg):
    # The burst holds 0.82 of its 1-30 Hz power within +-2 Hz of the page's PDR. Until the spindle
    # search's thresholds were made relative at any amplitude, the O2 alpha burst around it
    # (0.4-1.6 s) was also found as a sleep spindle on P8-O2/P4-O2 and left out of the page's
    # background: the ongoing amplitude read 27 uV and the polyspike stood 2.1x (kept with a
    # +-1.5 Hz rhythm band); read with the alpha around it, the ongoing is 43 uV and it stands 1.3x.
    from dataclasses import replace

    from cerebragloss.engine.annotate import annotate
    from cerebragloss.engine.sleep import SleepSettings, recording_contexts
    from cerebragloss.signals import read_recording, segments_from_recording

    recording = read_recording(shared_eeg / "eegmat" / "Subject00_1.edf")
    louder = replace(recording, data=recording.data * 1.3)
    pages = list(segments_from_recording(louder, "longitudinal_bipolar"))
    context = recording_contexts(louder, pages, SleepSettings())[0]  # as tools/annotate.py sees page 0
    assert not [e for e in context["sleep"]["events"] if "P8-O2" in e["channels"] and e["start_s"] < ALPHA_DETECTION["end_s"]]
    findings = annotate(pages[0], events=[ALPHA_DETECTION], context=context)["findings"]
    (decision,) = [d for d in findings["decisions"] if d["class"] == "polyspike"]
    assert decision["decision"] == "dropped" and "Hz posterior rhythm (82% of its power on P8-O2)" in decision["reason"], decision
    assert "1.3x its ongoing 43 uV" in decision["reason"], decision
    assert findings["epileptiform"] == []


#: What the default detector reports on the BioSemi recording bdf/multiple_annotation_chans.bdf
#: (awake, before lights-off), page 110-120 s, average montage: alpha waves on O1/O2 and a sharp
#: alpha wave on P4 boxed together as a polyspike (confidence 0.28). No awake recording the rules
#: were tuned on holds it.
POSTERIOR_ALPHA_DETECTION = {"class": "polyspike", "channels": ["P4-AVG", "O1-AVG", "O2-AVG"], "start_s": 8.45, "end_s": 8.808,
                             "confidence": 0.28, "source": "detector"}  # fmt: skip


def test_a_detection_over_several_channels_is_inside_the_posterior_rhythm_by_the_power_of_all_of_them(shared_eeg):
    # P4, which stands out most (2.3x), holds 0.38 of its power in the 9.5 Hz PDR band; the three
    # channels together 0.72. Judged on P4 alone the polyspike was kept.
    from cerebragloss.engine.annotate import annotate
    from cerebragloss.engine.sleep import SleepSettings, recording_contexts
    from cerebragloss.signals import read_recording, segments_from_recording

    recording = read_recording(shared_eeg / "bdf" / "multiple_annotation_chans.bdf")
    pages = list(segments_from_recording(recording, "average"))
    assert pages[11].start_s == 110.0
    context = recording_contexts(recording, pages, SleepSettings())[11]
    findings = annotate(pages[11], events=[POSTERIOR_ALPHA_DETECTION], context=context)["findings"]
    (decision,) = [d for d in findings["decisions"] if d["class"] == "polyspike"]
    assert decision["decision"] == "dropped", decision
    assert "2.3x its ongoing 12 uV (< 3.0), inside the 9.5 Hz posterior rhythm (72% of its channels' power)" in decision["reason"]


def test_an_unsure_staging_classifier_needs_the_pages_alpha_to_call_it_awake():
    # spinky_c3_train (N2 sleep): the classifier called pages holding scored spindles W at
    # probability 0.48-0.64, and questioning their spindles cost recall 0.85 -> 0.75.
    from cerebragloss.engine.cleaning import CleaningSettings, is_awake

    settings = CleaningSettings()
    alpha = {"posterior_dominant_rhythm": {"present": True, "frequency_hz": 10.0, "prominence": 8.0}}
    none = {"posterior_dominant_rhythm": {"present": False}}
    unsure = {"stage": "W", "source": "yasa_staging", "probability": 0.55, "channel": "C3"}
    sure = dict(unsure, probability=0.97)
    assert is_awake(none, unsure, settings) == (False, "")
    awake, why = is_awake(alpha, unsure, settings)
    assert awake and "probability 0.55" in why and "alpha PDR 10.0 Hz" in why
    assert is_awake(none, sure, settings) == (True, "stage W (yasa_staging)")
    # the recording's own hypnogram is trusted whatever the page shows
    assert is_awake(none, {"stage": "W", "source": "hypnogram"}, settings)[0]
    assert not is_awake(alpha, {"stage": "N2", "source": "hypnogram"}, settings)[0]
    # the classifier's sleep stage is not, where the page shows a clear alpha rhythm (eegmat
    # Subject00_2 played 6 times over, 6 min of mental arithmetic: it staged pages N1/N2/R, and 34
    # spindle findings were kept there; 14 with the override)
    assert not is_awake(none, dict(sure, stage="N2"), settings)[0]
    awake, why = is_awake(alpha, dict(sure, stage="N2"), settings)
    assert awake and why == "alpha PDR 10.0 Hz although the staging classifier says N2"
    # no stage known: the page rule
    assert is_awake(alpha, None, settings)[0] and not is_awake(none, None, settings)[0]


def test_blinks_make_a_page_without_alpha_awake_where_no_stage_is_known():
    # Eyes open there is no alpha: on eegbci S001R03 and the eegmmidb run under edf/ (motor tasks,
    # eyes open, 2 min each) 28 spindles found on the signal were kept as sleep spindles in the
    # transverse and average montages; AASM scores blinks as W.
    from cerebragloss.engine.cleaning import CleaningSettings, blinks_of, is_awake

    settings = CleaningSettings()
    none = {"posterior_dominant_rhythm": {"present": False}}
    blink = {"type": "eog", "score": 2.0, "channels": ["F7-Fp1", "Fp2-F8"], "start_s": 2.0, "end_s": 2.5}
    gaze = {"type": "eog", "score": 2.0, "channels": ["F7-T7", "F8-T8"], "start_s": 4.0, "end_s": 5.0}
    assert blinks_of([blink, gaze, dict(blink, type="emg"), dict(blink, score=0.5)], settings) == 1
    assert is_awake(none, None, settings, blinks=1) == (True, "1 blink on the page")
    unsure = {"stage": "W", "source": "yasa_staging", "probability": 0.55}
    assert is_awake(none, unsure, settings, blinks=2) == (True, "stage W (yasa_staging, probability 0.55) and 2 blinks on the page")
    # a stage from the recording is not overruled by blinks
    assert not is_awake(none, {"stage": "N2", "source": "hypnogram"}, settings, blinks=3)[0]
    assert not is_awake(none, None, CleaningSettings(awake_min_blinks=2), blinks=1)[0]


def test_spindles_on_eyes_open_awake_eeg_are_questioned(shared_eeg):
    from cerebragloss.evaluation.engine_real import engine_annotations, findings_in_recording_time
    from cerebragloss.signals import read_recording

    recording = read_recording(shared_eeg / "eegbci" / "S001R03.edf")
    annotations = engine_annotations(recording, "average")
    assert findings_in_recording_time(annotations, ("sleep_spindle",)) == []  # 7 kept before
    questioned = [e for a in annotations for e in a["findings"].get("events", []) if e["class"] == "sleep_spindle" and e.get("questioned")]
    reasons = [d["reason"] for a in annotations for d in a["findings"].get("decisions", []) if d["decision"] == "questioned"]
    assert len(questioned) >= 5 and sum("blink" in r for r in reasons) >= 5, reasons


def test_a_discharge_boxed_in_two_chains_is_one_finding():
    # A generalized spike-and-slow-wave (simulator field centred near Fz): the detector boxes rows
    # that are contiguous on the page, so the left and right frontal chains of the double banana
    # come as two boxes. Before, both were kept: 20 of 69 simulated discharges found in the double
    # banana were reported two or more times (README, cleaning).
    rng = np.random.default_rng(2)
    discharge = make_event("spike_and_slow_wave", 4.0, SFREQ, POSITIONS, rng)
    assert min(discharge.gains["F3"], discharge.gains["F4"]) > 0.5  # bilateral
    data, channels = simulated_page([discharge], seed=3)
    left = {"class": "spike_and_slow_wave", "channels": ["Fp1-F3", "F3-C3"], "start_s": 4.0, "end_s": 4.4, "confidence": 0.7,
            "source": "detector", "box": [10.0, 20.0, 60.0, 80.0]}  # fmt: skip
    right = dict(left, channels=["Fp2-F4", "F4-C4"], start_s=4.02, end_s=4.42, confidence=0.5, box=[12.0, 200.0, 62.0, 260.0])
    later = dict(right, start_s=8.0, end_s=8.4)  # another moment: another discharge (here not standing out: dropped)
    findings = clean_events(data, SFREQ, channels, "longitudinal_bipolar", [left, right, later], [], analyse_background(data, SFREQ, channels))
    (finding,) = [findings["events"][i] for i in findings["epileptiform"]]
    assert finding["channels"] == ["Fp1-F3", "F3-C3", "Fp2-F4", "F4-C4"] and finding["other_boxes"] == [right["box"]]
    decisions = {d["event"]: d for d in findings["decisions"]}
    assert decisions[0]["decision"] == "kept" and decisions[1]["decision"] == "merged" and "same discharge as event 0" in decisions[1]["reason"]
    assert decisions[2]["decision"] != "merged"


def test_two_classes_of_one_discharge_are_made_one_after_cleaning_not_before():
    # The detector boxed a discharge twice, as two classes on shared channels. Made one before
    # cleaning, the discharge stood or fell with its most confident box; here that box is dropped
    # (it does not stand out of the background) and the weaker box, on the discharge itself, is
    # kept. Made one after cleaning, the
    # engine found 3-6 more of 293 simulated awake discharges per montage, with no double report.
    rng = np.random.default_rng(2)
    discharge = make_event("spike_and_slow_wave", 4.0, SFREQ, POSITIONS, rng)
    data, channels = simulated_page([discharge], seed=3)
    strong = {"class": "spike_and_slow_wave", "channels": ["Fp1-F3", "F3-C3"], "start_s": 4.0, "end_s": 4.4, "confidence": 0.7, "source": "detector"}
    weak = dict(strong, **{"class": "sharp_and_slow_wave", "channels": ["F3-C3", "C3-P3"], "start_s": 4.05, "end_s": 4.5, "confidence": 0.4})
    background = analyse_background(data, SFREQ, channels)
    both = clean_events(data, SFREQ, channels, "longitudinal_bipolar", [strong, weak], [], background)
    (finding,) = [both["events"][i] for i in both["epileptiform"]]
    assert finding["class"] == "spike_and_slow_wave" and finding["channels"] == ["Fp1-F3", "F3-C3", "C3-P3"]
    assert [d["decision"] for d in both["decisions"]] == ["kept", "merged"] and both["decisions"][1]["reason"].endswith("at the same moment")
    # a more confident box on the discharge's quiet tail (does not stand out: dropped) overlapping
    # the weak one on C3-P3: the weak one still stands for the discharge
    dropped_strong = dict(strong, channels=["C3-P3"], confidence=0.85, start_s=4.45, end_s=4.52)
    findings = clean_events(data, SFREQ, channels, "longitudinal_bipolar", [dropped_strong, weak], [], background)
    decisions = {d["event"]: d["decision"] for d in findings["decisions"]}
    assert decisions[1] == "kept" and [findings["events"][i]["class"] for i in findings["epileptiform"]] == ["sharp_and_slow_wave"], findings["decisions"]


@pytest.mark.parametrize("electrode, channels", [("C4", ["F4-C4", "C4-P4"]), ("O2", ["P4-O2", "P8-O2"])])
def test_an_electrode_pop_that_decays_is_not_a_discharge(shared_eeg, electrode, channels):
    # A 40 uV pop (instant jump, then back with time constant 0.2 s) planted on one electrode of a
    # healthy awake recording, under a detector box: the step rule alone does not call it (its
    # level is gone 0.4-0.8 s later); the pop rule does (README: 26-38 of 60 planted pops, none
    # of 300 simulated discharges).
    from dataclasses import replace

    from cerebragloss.engine.annotate import EngineSettings, annotate
    from cerebragloss.engine.cleaning import CleaningSettings
    from cerebragloss.signals import read_recording, segments_from_recording

    recording = read_recording(shared_eeg / "eegmat" / "Subject00_1.edf")
    data, onset = recording.data.copy(), int(22.5 * recording.sfreq)
    after = np.arange(data.shape[1] - onset) / recording.sfreq
    data[recording.electrodes.index(electrode), onset:] += 40.0 * np.exp(-after / 0.2) * (after < 1.6)
    page = list(segments_from_recording(replace(recording, data=data), "longitudinal_bipolar"))[2]  # 20-30 s
    box = {"class": "spike_and_slow_wave", "channels": channels, "start_s": 2.45, "end_s": 2.85, "confidence": 0.4, "source": "detector"}
    (decision,) = [d for d in annotate(page, events=[box])["findings"]["decisions"] if d["class"] == "spike_and_slow_wave"]
    assert decision["decision"] == "dropped" and f"an electrode pop on {electrode} at 2.50 s" in decision["reason"], decision
    no_pops = EngineSettings(cleaning=CleaningSettings(pop_min_steepness=2.0))
    (decision,) = [d for d in annotate(page, events=[box], settings=no_pops)["findings"]["decisions"] if d["class"] == "spike_and_slow_wave"]
    assert decision["decision"] == "kept", decision


def _blink_page(spike_uv: float) -> tuple[np.ndarray, list[str]]:
    """Average montage, 10 s: background, a 0.4 s blink at 3.0 s (150 uV up at Fp1/Fp2, 50 uV at
    F3/Fz/F4, as its field fades backwards), and at its peak a 50 ms spike of ``spike_uv`` on F3."""
    from cerebragloss.signals import TEN_TWENTY, apply_montage
    from cerebragloss.signals.simulate import BackgroundSettings, simulate_background

    electrodes = list(TEN_TWENTY)
    data = simulate_background(10.0, SFREQ, BackgroundSettings(state="awake"), electrodes, seed=3)
    blink = np.sin(np.linspace(0, np.pi, int(0.4 * SFREQ)))
    start = int(3.0 * SFREQ)
    for electrode, gain in {"Fp1": 150.0, "Fp2": 150.0, "F3": 50.0, "Fz": 50.0, "F4": 50.0}.items():
        data[electrodes.index(electrode), start : start + len(blink)] += gain * blink
    spike = 1 - np.abs(np.linspace(-1, 1, int(0.05 * SFREQ)))
    peak = start + len(blink) // 2 - len(spike) // 2
    data[electrodes.index("F3"), peak : peak + len(spike)] += spike_uv * spike
    result = apply_montage(data, electrodes, "average")
    return result.data, result.channels


def test_a_detection_that_is_a_blinks_spread_is_told_from_a_frontal_spike_during_the_blink():
    from cerebragloss.engine.cleaning import CleaningSettings, eye_spread

    blink = {"type": "eog", "score": 3.0, "channels": ["Fp1-AVG", "Fp2-AVG"], "start_s": 2.75, "end_s": 3.75}
    detection = {"class": "spike", "channels": ["F3-AVG", "Fz-AVG"], "start_s": 3.05, "end_s": 3.35, "confidence": 0.3}
    data, channels = _blink_page(spike_uv=0.0)
    spread = eye_spread(data, SFREQ, channels, detection, [blink], CleaningSettings())
    assert spread is not None and spread["channel"] in ("Fp1-AVG", "Fp2-AVG") and spread["eye_uv"] > spread["event_uv"], spread
    # a negative spike on F3 at the blink's peak points the other way: its own event
    data, channels = _blink_page(spike_uv=-120.0)
    assert eye_spread(data, SFREQ, channels, detection, [blink], CleaningSettings()) is None
    # no eye artifact at that moment: nothing to be the spread of
    data, channels = _blink_page(spike_uv=0.0)
    assert eye_spread(data, SFREQ, channels, detection, [blink | {"start_s": 6.0, "end_s": 7.0}], CleaningSettings()) is None


#: What the default detector reports on the eegmmidb run under edf/ played at x0.6 amplitude, page
#: 110-120 s, average montage: the F3/Fz part of a ~400 uV blink read as a polyspike (confidence
#: 0.31; `score_engine --real --stress` found it, twice).
BLINK_SPREAD_DETECTION = {"class": "polyspike", "channels": ["F3-AVG", "Fz-AVG"], "start_s": 0.622, "end_s": 0.922,
                          "confidence": 0.31, "source": "detector"}  # fmt: skip


def _real_page(shared_eeg, name: str, montage: str, start_s: float, amplitude: float = 1.0, tempo: float = 1.0):
    """``(page, context)``: the page of a shared recording starting at ``start_s`` (seconds of the
    recording as played), played at ``amplitude`` and ``tempo`` as `score_engine --stress` does."""
    from dataclasses import replace

    from cerebragloss.engine.sleep import SleepSettings, recording_contexts
    from cerebragloss.signals import read_recording, segments_from_recording

    recording = read_recording(shared_eeg / name)
    played = replace(recording, data=recording.data * amplitude, sfreq=recording.sfreq * tempo)
    pages = list(segments_from_recording(played, montage))
    (index,) = [i for i, page in enumerate(pages) if page.start_s == start_s]
    return pages[index], recording_contexts(played, pages, SleepSettings())[index]


def test_a_real_blinks_spread_to_f3_and_fz_is_not_a_polyspike(shared_eeg):
    from cerebragloss.engine.annotate import EngineSettings, annotate
    from cerebragloss.engine.cleaning import CleaningSettings

    page, context = _real_page(shared_eeg, "edf/test_edf_overlapping_annotations.edf", "average", 110.0, amplitude=0.6)
    (decision,) = [d for d in annotate(page, events=[BLINK_SPREAD_DETECTION], context=context)["findings"]["decisions"]
                   if d["class"] == "polyspike"]  # fmt: skip
    assert decision["decision"] == "dropped" and decision["reason"].startswith("the spread of an eye artifact: 98 uV on F3-AVG while Fp"), decision
    without = EngineSettings(cleaning=CleaningSettings(eye_spread_min_ratio=1e9))
    (decision,) = [d for d in annotate(page, events=[BLINK_SPREAD_DETECTION], settings=without, context=context)["findings"]["decisions"]
                   if d["class"] == "polyspike"]  # fmt: skip
    assert decision["decision"] == "kept", decision


@pytest.mark.parametrize("montage", ["longitudinal_bipolar", "as_recorded"])
def test_discharges_have_a_pointed_peak_and_a_held_step_has_none(montage):
    # A spike or sharp wave has a pointed peak (IFCN 2017); a step that holds its level for
    # 0.4 s draws a steep edge and a plateau, which the detector reads as a spike and its slow
    # wave. Measured: of the 60 simulated discharges (12 per class), the 52-55 that stand out
    # 1.75x on their focus channels have 2.9x or more; 60 uV steps held 0.45 s 1.1-1.75x (the
    # largest background wave on the plateau; with the prominence taken over +-0.4 s, one of them
    # rose by the whole step: 2.9x).
    from cerebragloss.engine.cleaning import CleaningSettings, _pointed_standout, _standout

    settings = CleaningSettings()
    width, needed = settings.pointed_max_width_s, settings.pointed_min_standout
    pointed = []
    for _, _, _, data, channels, event in _focal_discharges(montage):
        background = analyse_background(data, SFREQ, channels)
        if _standout(data, SFREQ, channels, event, background)[0] >= 1.75:
            pointed.append(_pointed_standout(data, SFREQ, channels, event, background, width)[0])
    assert len(pointed) >= 40 and min(pointed) >= needed, sorted(pointed)[:5]
    held = []
    for seed, electrode in enumerate(("F8", "Fp2", "O1", "T7", "C4")):
        step = np.zeros(int(10 * SFREQ))
        rise, hold, fall = int(4.0 * SFREQ), int(4.01 * SFREQ), int(4.45 * SFREQ)
        step[rise:hold] = np.linspace(0.0, 60.0, hold - rise)
        step[hold:fall] = 60.0
        step[fall:] = 60.0 * np.exp(-np.arange(len(step) - fall) / (0.1 * SFREQ))
        data, channels = simulated_page(seed=seed, montage=montage)
        planted = np.zeros((len(TEN_TWENTY), len(step)))
        planted[list(TEN_TWENTY).index(electrode)] = step
        data = data + apply_montage(planted, list(TEN_TWENTY), montage).data
        background = analyse_background(data, SFREQ, channels)
        event = {"class": "spike_and_slow_wave", "channels": [c for c in channels if electrode in c.split("-")], "start_s": 3.95, "end_s": 4.5}
        held.append(_pointed_standout(data, SFREQ, channels, event, background, width)[0])
    assert max(held) < needed, held


#: What the default detector reports on eegmat Subject00_1 (rest, eyes closed) played at tempo
#: x0.85 (`score_engine --real --stress`): an F8 step of ~50 uV within 10 ms, held ~0.5 s (page
#: 160-170 s, transverse), and an Fp2 drop held ~0.4 s (page 30-40 s, as recorded), each read as
#: a spike-and-slow-wave. Neither is a step the step rule calls: the level goes on moving after
#: the jump, and comes back within a second.
HELD_DEFLECTIONS = [
    ("transverse_bipolar", 160.0, {"class": "spike_and_slow_wave", "channels": ["F4-F8"], "start_s": 3.25, "end_s": 3.767,
                                   "confidence": 0.34, "source": "detector"}, "F4-F8"),
    ("as_recorded", 30.0, {"class": "spike_and_slow_wave", "channels": ["Fp2"], "start_s": 4.828, "end_s": 5.29,
                           "confidence": 0.38, "source": "detector"}, "Fp2"),
]  # fmt: skip


@pytest.mark.parametrize("montage, page_start_s, event, channel", HELD_DEFLECTIONS)
def test_a_real_held_deflection_read_as_a_spike_and_slow_wave_has_no_pointed_peak(shared_eeg, montage, page_start_s, event, channel):
    from cerebragloss.engine.annotate import EngineSettings, annotate
    from cerebragloss.engine.cleaning import CleaningSettings

    page, context = _real_page(shared_eeg, "eegmat/Subject00_1.edf", montage, page_start_s, tempo=0.85)
    # the Fp2 drop (found at 0.38, 2.5x) is also a weak detection now; this is the pointed-peak rule's test
    rule = EngineSettings(cleaning=CleaningSettings(weak_max_confidence=0.0))
    for settings, expected in ((rule, "dropped"), (EngineSettings(cleaning=CleaningSettings(weak_max_confidence=0.0, pointed_min_standout=0.0)), "kept")):
        (decision,) = [d for d in annotate(page, events=[event], settings=settings, context=context)["findings"]["decisions"]
                       if d["class"] == event["class"]]  # fmt: skip
        assert decision["decision"] == expected, decision
        if expected == "dropped":
            assert decision["reason"].startswith("no pointed peak: ") and f"on {channel}, " in decision["reason"], decision


#: What the default detector reports on the eegmmidb run at x0.6, page 60-70 s, average montage:
#: the spread to F3/Fz of a ~360 uV blink that undershoots by half of itself, read as two
#: polyspikes (`score_engine --real --stress`). The blink rule refused the blink for its
#: undershoot, so nothing explained them.
UNDERSHOOT_SPREAD = [
    {"class": "polyspike", "channels": ["F3-AVG"], "start_s": 3.292, "end_s": 3.622, "confidence": 0.31, "source": "detector"},
    {"class": "polyspike", "channels": ["Fz-AVG"], "start_s": 3.294, "end_s": 3.599, "confidence": 0.33, "source": "detector"},
]  # fmt: skip


def test_the_spread_of_a_real_blink_with_an_undershoot_is_not_a_polyspike(shared_eeg):
    from cerebragloss.engine.annotate import annotate

    page, context = _real_page(shared_eeg, "edf/test_edf_overlapping_annotations.edf", "average", 60.0, amplitude=0.6)
    findings = annotate(page, events=UNDERSHOOT_SPREAD, context=context)["findings"]
    decisions = [d for d in findings["decisions"] if d["class"] == "polyspike"]
    assert findings["epileptiform"] == [] and len(decisions) == 2, decisions
    assert all(d["decision"] == "dropped" and d["reason"].startswith("the spread of an eye artifact") for d in decisions), decisions


#: What the default detector barely finds on healthy awake EEG played as other heads
#: (`score_engine --real --stress`): an F7 transient of the eegmmidb run at x0.6, tempo x0.85
#: (double banana, page 100-110 s, 1.77x its ongoing amplitude), and a 0.4 s burst of sharp alpha
#: on P4 in eegmat Subject00_2 at x1.6, tempo x1.15 (average, page 40-50 s, 2.2x; 67 % of its
#: power in the posterior rhythm, under the rhythm rule's 70 %). Each is just above the 1.75x
#: every discharge must stand out, and was found at 0.25 / 0.31.
WEAK_DETECTIONS = [
    ("eegbci/S001R03.edf", 0.6, 0.85, "longitudinal_bipolar", 100.0,
     {"class": "spike", "channels": ["Fp1-F7", "F7-T7"], "start_s": 7.767, "end_s": 7.913, "confidence": 0.25, "source": "detector"}),
    ("eegmat/Subject00_2.edf", 1.6, 1.15, "average", 40.0,
     {"class": "polyspike", "channels": ["P4-AVG"], "start_s": 7.532, "end_s": 7.89, "confidence": 0.31, "source": "detector"}),
]  # fmt: skip


@pytest.mark.parametrize("name, amplitude, tempo, montage, page_start_s, event", WEAK_DETECTIONS)
def test_a_barely_found_wave_that_barely_stands_out_is_not_a_discharge(shared_eeg, name, amplitude, tempo, montage, page_start_s, event):
    from cerebragloss.engine.annotate import EngineSettings, annotate
    from cerebragloss.engine.cleaning import CleaningSettings

    page, context = _real_page(shared_eeg, name, montage, page_start_s, amplitude=amplitude, tempo=tempo)

    def decision(event: dict, **cleaning) -> dict:
        settings = EngineSettings(cleaning=CleaningSettings(**cleaning))
        (found,) = [d for d in annotate(page, events=[event], settings=settings, context=context)["findings"]["decisions"]
                    if d["class"] == event["class"]]  # fmt: skip
        return found

    weak = decision(event)
    assert weak["decision"] == "dropped" and weak["reason"].startswith("does not stand out of the background: "), weak
    # the reason ends with the rule that set the bar (the posterior-rhythm one did not, at 67 %)
    assert weak["reason"].endswith(f"(< 2.5), found at confidence {event['confidence']:.2f} (< 0.4)"), weak
    # the code before (no confidence rule) kept it, and so does the rule for a box found surely
    assert decision(event, weak_max_confidence=0.0)["decision"] == "kept", decision(event, weak_max_confidence=0.0)
    assert decision(event | {"confidence": 0.5})["decision"] == "kept"


def test_a_standout_reason_names_its_bar_and_nothing_else(shared_eeg):
    # eegmat Subject00_1, page 0-10 s, average: a box the detector gives 0.06 on Fz-AVG (1.3x),
    # on a page with a posterior rhythm the box does not share. The reason used to end with the
    # rhythm powers' numpy array: "(< 1.75)[ 3.5722e+05]".
    from cerebragloss.engine.annotate import annotate

    page, context = _real_page(shared_eeg, "eegmat/Subject00_1.edf", "average", 0.0)
    event = {"class": "polyspike", "channels": ["Fz-AVG"], "start_s": 0.848, "end_s": 1.123, "confidence": 0.9, "source": "detector"}
    findings = annotate(page, events=[event], context=context)["findings"]
    assert findings["awake_background"]  # the page has its alpha PDR
    (decision,) = [d for d in findings["decisions"] if d["class"] == "polyspike"]
    assert decision["decision"] == "dropped" and decision["reason"].endswith("uV (< 1.75)"), decision


@pytest.mark.shared_data
def test_a_box_the_page_cut_half_a_page_later_does_not_give_is_not_a_discharge(shared_eeg):
    # The BioSemi's wake, mirrored left-right and paged from 2.5 s (a --stress --mirror variant),
    # its first 80 s: on the page from 62.5 s of the recording the default detector boxes a
    # spike-and-slow-wave over F3/Fz/F4-AVG at 0.49; the page cut 5 s later, where the same waves
    # lie mid-page, gives nothing there even at 0.05. One look kept it as a discharge.
    from dataclasses import replace

    from cerebragloss.detection.detector import DEFAULT_WEIGHTS, DetectorSettings, WaveformDetector
    from cerebragloss.evaluation.engine_real import (
        cropped,
        engine_annotations,
        mirrored,
        read_awake,
    )

    recording = cropped(mirrored(read_awake(shared_eeg / "bdf" / "multiple_annotation_chans.bdf")), 2.5)
    end = int(80 * recording.sfreq)
    recording = replace(recording, data=recording.data[:, :end], aux=[replace(a, data=a.data[:end]) for a in recording.aux])

    def page_at_60_s(second_look_s):
        detector = WaveformDetector(DEFAULT_WEIGHTS, DetectorSettings(second_look_s=second_look_s))
        (page,) = [a for a in engine_annotations(recording, "average", detector) if a["start_s"] == 60.0]
        (decision,) = [d for d in page["findings"]["decisions"] if d["class"] == "spike_and_slow_wave"]
        return page["events"][decision["event"]], decision

    event, decision = page_at_60_s(None)
    assert "second_look" not in event and decision["decision"] == "kept", decision
    event, decision = page_at_60_s(5.0)
    assert event["channels"] == ["F3-AVG", "Fz-AVG", "F4-AVG"] and event["second_look"] == {"shift_s": 5.0, "confidence": 0.0}, event
    assert decision["decision"] == "dropped", decision
    assert decision["reason"] == f"not found again on the page cut 5 s later: confidence {event['confidence']:.2f} here, 0.00 there (< 0.1)"


def test_a_detection_found_again_keeps_its_place_and_one_the_second_cut_misses_is_marked():
    # look_again on hand-made events: recording time is page start + event time; only
    # epileptiform events are looked at again, only where a shifted page holds them whole,
    # and a sighting must share a channel and overlap in time.
    from cerebragloss.detection.detector import look_again

    def event(label, start_s, end_s, channels, confidence):
        return {"class": label, "start_s": start_s, "end_s": end_s, "channels": channels, "confidence": confidence}

    found = [[event("spike", 9.0, 9.2, ["F3-C3"], 0.6), event("sleep_spindle", 3.0, 4.0, ["C3-P3"], 0.5)],
             [event("polyspike", 2.0, 2.4, ["F4-C4"], 0.3), event("sharp_wave", 6.0, 6.2, ["T7-P7"], 0.4)]]  # fmt: skip
    again = [[event("spike_and_slow_wave", 3.9, 4.3, ["F3-C3", "C3-P3"], 0.45), event("spike", 7.0, 7.2, ["Fp2-F4"], 0.9)]]
    look_again(found, [0.0, 10.0], again, [(5.0, 15.0)], 5.0)
    spike, spindle = found[0]
    polyspike, sharp = found[1]
    assert spike["second_look"] == {"shift_s": 5.0, "confidence": 0.45}  # 9.0-9.2 s against 8.9-9.3 s, F3-C3 shared
    assert polyspike["second_look"] == {"shift_s": 5.0, "confidence": 0.0}  # the F4 spike there is on another channel
    assert "second_look" not in spindle and "second_look" not in sharp  # a sleep transient; 16 s lies past the shifted page
