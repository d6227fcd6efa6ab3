"""Short muscle bursts for the detector's training pages: the simulator draws them only where asked,
they are real fast (> 20 Hz) bursts of 0.2-1 s on 1-4 mostly frontal/temporal electrodes, and the
training pages carry them as unlabelled background, never as a waveform box (the detector's false
polyspikes on real awake EEG were such bursts)."""

import numpy as np

from cerebragloss.detection.dataset import write_yolo_dataset
from cerebragloss.signals import TEN_TWENTY, read_recording
from cerebragloss.signals.simulate import (
    SimulationSettings,
    electrode_positions,
    load_truth,
    simulate_recording,
)
from cerebragloss.signals.transients import MUSCLE_BURST_S, make_muscle_burst

SFREQ = 200.0
HEAD = electrode_positions(list(TEN_TWENTY))
FRONTAL_TEMPORAL = {"Fp1", "Fp2", "F7", "F8", "F3", "F4", "Fz", "T7", "T8"}


def _fast_share(signal: np.ndarray, sfreq: float, above_hz: float = 20.0) -> float:
    """Share of the signal's power (DC left out) above ``above_hz``."""
    power = np.abs(np.fft.rfft(signal - signal.mean())) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / sfreq)
    return float(power[freqs > above_hz].sum() / power[1:].sum())


def test_a_muscle_burst_is_fast_short_and_on_a_few_frontotemporal_electrodes():
    rng = np.random.default_rng(11)
    bursts = [make_muscle_burst(1.0, SFREQ, HEAD, rng, max_duration_s=9.0) for _ in range(200)]
    frontotemporal = 0
    for burst in bursts:
        assert burst.kind == "artifact" and burst.label == "emg"
        assert MUSCLE_BURST_S[0] <= burst.offset_s - burst.onset_s <= MUSCLE_BURST_S[1] + 1 / SFREQ
        assert 1 <= len(burst.channels) <= 4 and set(burst.signals) == set(burst.channels)
        for name, signal in burst.signals.items():
            assert _fast_share(signal, SFREQ) >= 0.85, name  # > 20 Hz: no cerebral rhythm
            assert _fast_share(signal, SFREQ, 40.0) >= 0.2, name  # broadband, not one 20-40 Hz rhythm
        strongest = max(np.sqrt(np.mean(s**2)) for s in burst.signals.values())
        assert 10.0 <= strongest <= 60.0
        frontotemporal += bool(FRONTAL_TEMPORAL & set(burst.channels))
    assert frontotemporal >= 0.8 * len(bursts)


def test_bursts_are_drawn_only_where_asked_and_leave_every_other_draw_as_it_was(tmp_path):
    plain = simulate_recording(tmp_path / "plain_r0.edf", 1.0, SimulationSettings(), seed=5)
    with_bursts = simulate_recording(tmp_path / "burst_r0.edf", 1.0, SimulationSettings(muscle_bursts_per_page=3.0), seed=5)
    before, after = load_truth(plain), load_truth(with_bursts)
    assert after["events"] == before["events"]
    assert [a for a in after["artifacts"] if a in before["artifacts"]] == before["artifacts"]
    bursts = [a for a in after["artifacts"] if a not in before["artifacts"]]
    assert len(bursts) >= 8 and {a["type"] for a in bursts} == {"emg"}
    assert all(MUSCLE_BURST_S[0] <= a["offset_s"] - a["onset_s"] <= MUSCLE_BURST_S[1] + 0.01 for a in bursts)
    # some end flush with a page's edge, where the page cuts the burst from its context
    assert any(abs(a["offset_s"] - 10 * round(a["offset_s"] / 10)) <= 0.06 for a in bursts)
    # the recording carries them: same background and events, so the difference is the bursts
    # (and the posterior alpha laid under some of them, which is slow): on each burst's
    # electrodes its > 20 Hz part is large inside the burst and nothing where no burst is
    a, b = read_recording(plain), read_recording(with_bursts)
    difference = b.data - a.data
    fast_in_burst = []
    for burst in bursts:
        first, last = int(burst["onset_s"] * b.sfreq), int(burst["offset_s"] * b.sfreq)
        span = difference[b.electrodes.index(burst["channels"][0]), first:last]
        fast_in_burst.append(np.sqrt(np.mean(span**2) * _fast_share(span, b.sfreq)))
    assert min(fast_in_burst) >= 5.0
    spectrum = np.fft.rfft(difference, axis=1)
    spectrum[:, np.fft.rfftfreq(difference.shape[1], 1 / b.sfreq) <= 20.0] = 0
    fast = np.fft.irfft(spectrum, n=difference.shape[1], axis=1)
    quiet = np.ones(difference.shape[1], bool)
    margin = int(0.25 * b.sfreq)
    for burst in bursts:
        quiet[max(0, int(burst["onset_s"] * b.sfreq) - margin) : int(burst["offset_s"] * b.sfreq) + margin] = False
    assert quiet.sum() > 0.3 * len(quiet) and np.sqrt(np.mean(fast[:, quiet] ** 2)) < 0.1 * min(fast_in_burst)


def test_training_pages_carry_bursts_as_background_without_boxes(tmp_path):
    quiet = SimulationSettings(events_per_page=0.0, artifacts_per_page=0.0)
    settings = SimulationSettings(events_per_page=0.0, artifacts_per_page=0.0, muscle_bursts_per_page=3.0)
    plain = simulate_recording(tmp_path / "sim" / "plain000_r0.edf", 0.5, quiet, seed=8)
    recording = simulate_recording(tmp_path / "sim" / "burst000_r0.edf", 0.5, settings, seed=8)
    assert load_truth(recording)["artifacts"] and not load_truth(recording)["events"]
    report = write_yolo_dataset([plain, recording], tmp_path / "data", val_fraction=0.5, seed=0, progress=False)
    assert sum(sum(counts.values()) for counts in report.boxes.values()) == 0
    labels = list((tmp_path / "data" / "labels").rglob("*.txt"))
    assert len(labels) == 6 and all(not p.read_text().strip() for p in labels)
    # the pages do show them: every page of the burst recording differs from the quiet one's
    images = {p.name: p.read_bytes() for p in (tmp_path / "data" / "images").rglob("*.png")}
    differs = [images[name] != images[name.replace("burst", "plain")] for name in images if name.startswith("burst")]
    assert len(differs) == 3 and sum(differs) >= 2
