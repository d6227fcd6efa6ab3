import numpy as np
import pytest
from scipy.signal import welch

from cerebragloss.labels import SLEEP_CLASSES, SLEEP_CLASSES_BY_STATE, WAVEFORM_CLASSES
from cerebragloss.signals import TEN_TWENTY, read_recording, segments_from_recording
from cerebragloss.signals.simulate import (
    BackgroundSettings,
    SimulationSettings,
    inject_into_recording,
    load_truth,
    simulate_background,
    simulate_recordings,
    state_at,
    truth_path,
)


def _peak_hz(signal, sfreq):
    freqs, power = welch(signal, fs=sfreq, nperseg=int(4 * sfreq))
    band = (freqs >= 1) & (freqs <= 30)
    return freqs[band][np.argmax(power[band])]


def test_awake_background_has_posterior_alpha_at_the_set_frequency():
    data = simulate_background(60, 200.0, BackgroundSettings(alpha_hz=9.5, alpha_uv=40), seed=3)
    o1, fp1 = data[17], data[0]  # TEN_TWENTY order: ..., O1, O2
    assert _peak_hz(o1, 200.0) == pytest.approx(9.5, abs=0.5)
    assert o1.std() > 2 * fp1.std()  # alpha is posterior
    assert 20 < (np.percentile(o1, 99.5) - np.percentile(o1, 0.5)) / 2 < 80  # clinical amplitude


def test_simulated_recordings_go_through_the_real_reader(tmp_path):
    paths = simulate_recordings(tmp_path, subjects=2, minutes=0.5, seed=1)
    assert [p.name for p in paths] == ["sim000_r0.edf", "sim001_r0.edf"]
    recording = read_recording(paths[0])
    assert recording.subject == "sim000" and not recording.missing  # TUH-style names all mapped
    assert "EEG T3-REF" in recording.channel_map and recording.channel_map["EEG T3-REF"] == "T7"
    pages = list(segments_from_recording(recording, "longitudinal_bipolar"))
    assert len(pages) == 3 and pages[0].data.shape == (18, 2000)
    again = simulate_recordings(tmp_path / "again", subjects=1, minutes=0.5, seed=1)[0]
    assert again.read_bytes()[256:] == paths[0].read_bytes()[256:]  # same seed, same samples


def test_truth_files_are_deterministic_per_seed_and_differ_across_seeds(tmp_path):
    first = simulate_recordings(tmp_path / "a", subjects=2, minutes=0.5, seed=4)
    again = simulate_recordings(tmp_path / "b", subjects=2, minutes=0.5, seed=4)
    other = simulate_recordings(tmp_path / "c", subjects=2, minutes=0.5, seed=5)
    for a, b, c in zip(first, again, other, strict=True):
        assert truth_path(a).read_text() == truth_path(b).read_text()
        assert a.read_bytes()[256:] == b.read_bytes()[256:]
        assert truth_path(a).read_text() != truth_path(c).read_text()


def test_truth_lists_states_events_and_artifacts_with_sleep_transients_only_in_sleep(tmp_path):
    settings = SimulationSettings(events_per_page=4, artifacts_per_page=2)
    paths = simulate_recordings(tmp_path, subjects=3, minutes=2, seed=0, settings=settings)
    classes, artifacts = set(), set()
    for path in paths:
        truth = load_truth(path)
        assert truth["schema"] == 1 and truth["recording"] == path.stem and truth["subject"] == path.stem.split("_")[0]
        assert [b["state"] for b in truth["states"]] == ["awake", "drowsy", "n2", "n3"]
        for event in truth["events"]:
            state = state_at(truth["states"], event["onset_s"])
            if event["class"] in SLEEP_CLASSES:
                assert event["class"] in SLEEP_CLASSES_BY_STATE[state], (event, state)
            assert 0 <= event["onset_s"] < event["offset_s"] <= truth["duration_s"]
            assert set(event["channels"]) <= set(TEN_TWENTY) and event["gains"]
        ordered = sorted(truth["events"], key=lambda e: e["onset_s"])
        assert all(a["offset_s"] <= b["onset_s"] for a, b in zip(ordered, ordered[1:], strict=False))
        classes |= {e["class"] for e in truth["events"]}
        artifacts |= {a["type"] for a in truth["artifacts"]}
        # the EDF carries the sleep stages as scored files do
        stages = [a.description for a in read_recording(path).annotations]
        assert stages == ["Sleep stage W", "Sleep stage N1", "Sleep stage N2", "Sleep stage N3"]
    assert classes == set(WAVEFORM_CLASSES)
    assert len(artifacts) >= 5


def test_events_land_in_the_recording_where_the_truth_says(tmp_path):
    settings = SimulationSettings(events_per_page=3, artifacts_per_page=0, states=["awake"])
    path = simulate_recordings(tmp_path, subjects=1, minutes=1, seed=2, settings=settings)[0]
    recording = read_recording(path)
    quiet = simulate_recordings(tmp_path / "quiet", subjects=1, minutes=1, seed=2,
                                settings=SimulationSettings(events_per_page=0, artifacts_per_page=0, states=["awake"]))[0]  # fmt: skip
    difference = recording.data - read_recording(quiet).data
    for event in load_truth(path)["events"]:
        focus = max(event["gains"], key=lambda e: abs(event["gains"][e]))
        row = difference[recording.electrodes.index(focus)]
        first, last = (int(round(t * recording.sfreq)) for t in (event["onset_s"], event["offset_s"]))
        inside = np.abs(row[first:last]).max()
        assert inside == pytest.approx(event["amplitude_uv"], rel=0.05)  # EDF quantisation
        assert np.abs(row[max(0, first - 60) : first - 2]).max() < 0.05 * inside  # nothing before it


def test_hybrid_mode_injects_events_into_a_real_background(shared_eeg, tmp_path):
    source = shared_eeg / "eegmat" / "Subject00_1.edf"
    out = inject_into_recording(source, tmp_path / "Subject00_1_hybrid.edf", state="awake", seed=3, max_minutes=1,
                                settings=SimulationSettings(events_per_page=3))  # fmt: skip
    truth = load_truth(out)
    real, hybrid = read_recording(source), read_recording(out)
    assert set(hybrid.electrodes) == set(TEN_TWENTY) & set(real.electrodes)
    assert truth["events"] and not {e["class"] for e in truth["events"]} & set(SLEEP_CLASSES)  # awake: none
    assert truth["background_source"] == "Subject00_1.edf" and truth["subject"] == "Subject00"
    event = truth["events"][0]
    focus = max(event["gains"], key=lambda e: abs(event["gains"][e]))
    first = int(round(event["onset_s"] * real.sfreq))
    row_real = real.data[real.electrodes.index(focus), first : first + 40]
    row_hybrid = hybrid.data[hybrid.electrodes.index(focus), first : first + 40]
    assert np.abs(row_hybrid - row_real).max() > 50  # the event is there, on top of the real EEG


def test_hybrid_mode_resamples_a_slow_recording_so_spikes_have_samples(tmp_path, write_edf):
    # A 125 Hz BioSemi-like export: the simulator's 200 Hz floor used to refuse it outright.
    rng = np.random.default_rng(0)
    source = write_edf({e: 10 * rng.normal(size=125 * 30) for e in ("F7", "T7", "P7", "C3")}, sfreq=125.0, name="slow.edf")
    out = inject_into_recording(source, tmp_path / "slow_hybrid.edf", state="awake", seed=1,
                                settings=SimulationSettings(events_per_page=3, artifact_types=[]))  # fmt: skip
    hybrid, truth = read_recording(out), load_truth(out)
    assert hybrid.sfreq == truth["sfreq"] == 200.0 and hybrid.duration_s == pytest.approx(30.0, abs=0.01)
    assert truth["events"]
    event = truth["events"][0]
    focus = max(event["gains"], key=lambda e: abs(event["gains"][e]))
    first = int(round(event["onset_s"] * 200))
    assert np.abs(hybrid.data[hybrid.electrodes.index(focus), first : first + 40]).max() > 40


def test_a_hybrid_background_can_be_scaled_and_mirrored_as_another_heads(tmp_path, write_edf):
    # The awake stress variants as training backgrounds: x0.6, and each left electrode's signal
    # under its right homologue's name (C3's under C4, Fp1's under Fp2), the midline's unchanged.
    rng = np.random.default_rng(4)
    signals = {e: 20 * rng.normal(size=200 * 20) for e in ("Fp1", "C3", "Cz", "C4")}
    source = write_edf(signals, name="head.edf")
    quiet = SimulationSettings(events_per_page=0, artifacts_per_page=0)
    out = inject_into_recording(source, tmp_path / "head_hybrid.edf", state="awake", settings=quiet, amplitude=0.6, mirror=True)
    hybrid = read_recording(out)
    assert sorted(hybrid.electrodes) == ["C3", "C4", "Cz", "Fp2"]
    for original, mirrored in (("C3", "C4"), ("C4", "C3"), ("Fp1", "Fp2"), ("Cz", "Cz")):
        assert np.abs(hybrid.data[hybrid.electrodes.index(mirrored)] - 0.6 * signals[original]).max() < 0.05, (original, mirrored)
    assert load_truth(out)["subject"] == read_recording(source).subject  # still that person, for the subject split


def test_hybrid_events_keep_their_whole_head_field_on_a_one_electrode_recording(tmp_path, write_edf):
    # POSTS are occipital: injected into a C3-only sleep recording they barely reach C3, rather
    # than being centred on the one electrode there is; spindles, central, do reach it.
    source = write_edf({"C3": 5 * np.random.default_rng(0).normal(size=200 * 120)}, name="c3only.edf")
    settings = SimulationSettings(events_per_page=2, artifact_types=[], classes=["posts", "sleep_spindle"])
    truth = load_truth(inject_into_recording(source, tmp_path / "c3_hybrid.edf", state="n2", seed=2, settings=settings))
    by_class = {c: [e for e in truth["events"] if e["class"] == c] for c in ("posts", "sleep_spindle")}
    assert by_class["posts"] and by_class["sleep_spindle"]
    assert all(e["gains"].get("C3", 0.0) < 0.1 for e in by_class["posts"])
    assert all(e["gains"]["C3"] > 0.4 for e in by_class["sleep_spindle"])


def test_simulation_settings_report_every_problem():
    with pytest.raises(ValueError) as error:
        SimulationSettings(states=["rem"], classes=["spike", "alpha"], sfreq=100)
    message = str(error.value)
    assert "rem" in message and "alpha" in message and "sfreq" in message
