"""Waveform morphology, polarity and scalp fields of the simulator's events and artifacts."""

import numpy as np
import pytest

from cerebragloss.labels import ARTIFACT_TYPES, WAVEFORM_CLASSES
from cerebragloss.signals import TEN_TWENTY, apply_montage
from cerebragloss.signals.simulate import electrode_positions
from cerebragloss.signals.transients import make_artifact, make_event

SFREQ = 200.0
POSITIONS = electrode_positions(list(TEN_TWENTY))


def _events(label, count=20):
    rng = np.random.default_rng(5)
    return [make_event(label, 1.0, SFREQ, POSITIONS, rng) for _ in range(count)]


def _main_phase_duration(waveform):
    """Duration (s) of the largest phase: the run of samples of the peak's sign around it."""
    peak = int(np.argmax(np.abs(waveform)))
    sign = np.sign(waveform[peak])
    start = peak
    while start > 0 and np.sign(waveform[start - 1]) == sign:
        start -= 1
    end = peak
    while end < len(waveform) - 1 and np.sign(waveform[end + 1]) == sign:
        end += 1
    return (end - start + 1) / SFREQ


@pytest.mark.parametrize(
    ("label", "low_s", "high_s"),
    [("spike", 0.02, 0.07), ("sharp_wave", 0.07, 0.2), ("vertex_wave", 0.1, 0.3), ("posts", 0.1, 0.25)],
)
def test_main_phase_durations_follow_the_clinical_definitions(label, low_s, high_s):
    for event in _events(label):
        assert low_s <= _main_phase_duration(event.waveform) <= high_s, label


def test_epileptiform_discharges_and_vertex_waves_are_surface_negative_posts_positive():
    for label in ("spike", "sharp_wave", "spike_and_slow_wave", "sharp_and_slow_wave", "polyspike", "vertex_wave"):
        for event in _events(label, 5):
            assert event.waveform.min() < -abs(event.waveform.max()) * 0.9, label
    for event in _events("posts", 5):
        assert event.waveform.max() > 0 and event.waveform.min() >= 0


def test_slow_wave_follows_the_spike_and_k_complexes_last_at_least_half_a_second():
    for event in _events("spike_and_slow_wave"):
        assert event.offset_s - event.onset_s >= 0.2
    for event in _events("k_complex"):
        assert event.offset_s - event.onset_s >= 0.5
        assert event.waveform.min() < 0 < event.waveform.max()  # negative sharp, then positive


def test_spindles_oscillate_at_sigma_frequency_and_are_central():
    for event in _events("sleep_spindle"):
        spectrum = np.abs(np.fft.rfft(event.waveform, n=4096))
        peak_hz = np.fft.rfftfreq(4096, 1 / SFREQ)[np.argmax(spectrum)]
        assert 11 - 0.1 <= peak_hz <= 16 + 0.1  # 11-16 Hz (AASM), give or take the FFT's resolution
        peak_to_peak = event.waveform.max() - event.waveform.min()
        assert 10 <= peak_to_peak <= 50  # adult spindles at the central maximum, not 90-150 uV
        assert 0.5 <= event.offset_s - event.onset_s <= 2.0
        assert max(event.gains, key=lambda e: event.gains[e]) in ("Cz", "C3", "C4")


def test_focal_discharge_shows_a_phase_reversal_in_the_double_banana():
    rng = np.random.default_rng(0)
    reversals = 0
    for _ in range(20):
        event = make_event("spike", 0.5, SFREQ, POSITIONS, rng)
        data = np.zeros((19, 400))
        event.apply(data, list(TEN_TWENTY), SFREQ)
        result = apply_montage(data, list(TEN_TWENTY), "longitudinal_bipolar")
        focus = max(event.gains, key=lambda e: event.gains[e])
        peaks = {ch: row[np.argmax(np.abs(row))] for ch, row in zip(result.channels, result.data, strict=True)}
        into = [v for ch, v in peaks.items() if ch.endswith(f"-{focus}")]
        out_of = [v for ch, v in peaks.items() if ch.startswith(f"{focus}-")]
        if into and out_of:
            # The chain goes through the focus: channels ending there deflect up (positive here,
            # drawn down... either way) opposite to the channels starting there.
            assert np.sign(into[0]) == -np.sign(out_of[0])
            reversals += 1
    assert reversals >= 5


def test_every_artifact_type_is_made_on_existing_electrodes_within_its_span():
    rng = np.random.default_rng(2)
    for label in ARTIFACT_TYPES:
        artifact = make_artifact(label, 2.0, SFREQ, POSITIONS, rng, max_duration_s=20.0)
        assert artifact.label == label and artifact.channels
        assert set(artifact.channels) <= set(TEN_TWENTY)
        assert 2.0 < artifact.offset_s <= 22.0
        data = np.zeros((19, 5000))
        artifact.apply(data, list(TEN_TWENTY), SFREQ)
        touched = np.flatnonzero(np.abs(data).max(axis=0) > 0)
        if label != "flatline":
            assert touched.min() >= int(2.0 * SFREQ) and touched.max() < int(artifact.offset_s * SFREQ) + 1


def test_unknown_labels_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown waveform class"):
        make_event("alpha_squeak", 0.0, SFREQ, POSITIONS, rng)
    with pytest.raises(ValueError, match="unknown artifact"):
        make_artifact("chewing gum", 0.0, SFREQ, POSITIONS, rng, 5.0)
    assert len(WAVEFORM_CLASSES) == 9


def test_spindles_carry_their_amplitude_at_c3_and_c4_as_real_ones_do():
    # Spindles are measured at C3/C4 (AASM); the SPINKY spindles at C3 are 21-41 uV peak-to-peak in
    # the 11-16 Hz band (10th-90th percentile of 88, median 26-29). A field centred on Cz alone left
    # C3/C4 0.40-0.56 of the drawn amplitude: a median of ~14 uV there, half the real spindles.
    at_c3, at_c4 = [], []
    for event in _events("sleep_spindle", count=200):
        at_c3.append(event.gains["C3"] * np.ptp(event.waveform))  # the waveform is in uV at gain 1
        at_c4.append(event.gains["C4"] * np.ptp(event.waveform))
        assert min(event.gains[e] for e in ("C3", "Cz", "C4")) >= 0.95
    assert 20.0 <= np.median(at_c3) <= 40.0 and 20.0 <= np.median(at_c4) <= 40.0, (np.median(at_c3), np.median(at_c4))
