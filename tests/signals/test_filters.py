import numpy as np
import pytest

from cerebragloss.signals import FilterSettings, filter_signals, resample
from tests.conftest import sine


def _amplitude(signal, freq, sfreq):
    """Amplitude of the ``freq`` component over the middle of the signal (edges excluded)."""
    middle = signal[len(signal) // 4 : 3 * len(signal) // 4]
    t = np.arange(len(middle)) / sfreq
    return 2 * abs(np.mean(middle * np.exp(-2j * np.pi * freq * t)))


def test_band_pass_keeps_eeg_and_removes_drift_and_high_frequencies():
    sfreq = 200.0
    data = (sine(10, 30, sfreq, 50) + sine(0.05, 30, sfreq, 200) + sine(90, 30, sfreq, 20))[None]
    out = filter_signals(data, sfreq, FilterSettings(sfreq=sfreq, l_freq=0.5, h_freq=70))[0]
    assert _amplitude(out, 10, sfreq) == pytest.approx(50, rel=0.02)
    assert _amplitude(out, 90, sfreq) < 0.5
    assert abs(out[1000:-1000]).max() < 60  # the 200 uV drift is gone


def test_notch_removes_mains_and_its_harmonic():
    sfreq = 250.0
    data = (sine(10, 20, sfreq, 50) + sine(50, 20, sfreq, 30) + sine(100, 20, sfreq, 10))[None]
    out = filter_signals(data, sfreq, FilterSettings(sfreq=sfreq, l_freq=None, h_freq=None, notch_hz=50))[0]
    assert _amplitude(out, 50, sfreq) < 1 and _amplitude(out, 100, sfreq) < 1
    assert _amplitude(out, 10, sfreq) == pytest.approx(50, rel=0.02)


def test_resample_keeps_frequency_and_amplitude():
    out = resample(sine(10, 10, 500.0, 40)[None], 500.0, 200.0)[0]
    assert out.shape == (2000,)
    assert _amplitude(out, 10, 200.0) == pytest.approx(40, rel=0.01)
    odd = resample(sine(10, 10, 128.0, 40)[None], 128.0, 200.0)[0]
    assert odd.shape == (2000,) and _amplitude(odd, 10, 200.0) == pytest.approx(40, rel=0.01)


def test_settings_list_every_problem_at_once():
    with pytest.raises(ValueError) as error:
        FilterSettings(sfreq=100, h_freq=70, l_freq=-1, notch_hz=60)
    message = str(error.value)
    assert "h_freq=70" in message and "l_freq=-1" in message and "notch_hz=60" in message
    assert FilterSettings().describe() == "LFF 0.5 Hz HFF 70 Hz notch off"
