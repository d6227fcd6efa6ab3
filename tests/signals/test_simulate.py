import numpy as np
import pytest
from scipy.signal import welch

from cerebragloss.signals import read_recording, segments_from_recording
from cerebragloss.signals.simulate import (
    BackgroundSettings,
    simulate_background,
    simulate_recordings,
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
