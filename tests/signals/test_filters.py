import numpy as np
import pytest

from cerebragloss.signals import FilterSettings, filter_signals, prepare, resample
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


def _recording(data, sfreq):
    from cerebragloss.signals.io import Recording

    return Recording(path="r.edf", recording="r", subject="r", sfreq=sfreq, data=np.atleast_2d(data), electrodes=["C3"])


def test_a_low_pass_above_the_recordings_own_nyquist_is_lowered_and_the_page_says_so():
    from cerebragloss.signals import segments_from_recording

    settings = FilterSettings(notch_hz=50)  # 0.5-70 Hz and a 50 Hz notch at the 200 Hz working rate
    assert settings.for_source(50.0) == FilterSettings(l_freq=0.5, h_freq=22.5, notch_hz=None)
    assert settings.for_source(500.0) == settings
    assert settings.describe(source_sfreq=50.0) == (
        "LFF 0.5 Hz HFF 22.5 Hz (70 Hz > Nyquist 25 Hz of 50 Hz data) notch off (50 Hz >= Nyquist 25 Hz of 50 Hz data)"
    )
    t = np.arange(50 * 60) / 50.0
    segment = next(segments_from_recording(_recording(np.sin(2 * np.pi * 10 * t), 50.0), "as_recorded", filters=settings))
    assert segment.filters.startswith("LFF 0.5 Hz HFF 22.5 Hz (70 Hz > Nyquist 25 Hz")


def test_the_lowered_low_pass_is_applied_not_only_written():
    # Recorded at 50 Hz: with the 70 Hz low-pass of the 200 Hz working rate a 24.5 Hz wave passed
    # whole; the filter at 22.5 Hz (90 % of Nyquist) takes a quarter of it off, a 10 Hz wave none.
    t = np.arange(50 * 60) / 50.0

    def amplitude(freq):
        prepared = prepare(_recording(100 * np.sin(2 * np.pi * freq * t), 50.0), FilterSettings())
        return np.sqrt(2) * prepared.data[0, 2000:-2000].std()

    assert amplitude(10.0) == pytest.approx(100, abs=2)
    assert amplitude(24.5) < 80
