"""Background measures against signals with known amplitude and frequency."""

import re

import numpy as np
import pytest

from cerebragloss.engine.background import (
    analyse_background,
    dominant_frequency,
    electrodes_of,
    half_peak_to_peak,
    mirror_channel,
    power_spectrum,
    side_of,
)
from tests.conftest import sine

SFREQ = 200.0


def test_half_peak_to_peak_of_a_sine_is_its_amplitude_and_ignores_a_blink():
    signal = sine(10, 10.0, amplitude=40)
    assert half_peak_to_peak(signal, SFREQ) == pytest.approx(40, rel=0.01)
    signal[400:460] += 300  # one 0.3 s blink
    assert half_peak_to_peak(signal, SFREQ) == pytest.approx(40, rel=0.01)  # median over windows


def test_dominant_frequency_finds_the_rhythm_over_1_over_f_noise():
    rng = np.random.default_rng(0)
    pink = np.cumsum(rng.normal(size=2000)) * 0.5
    pink -= np.convolve(pink, np.ones(200) / 200, mode="same")
    signal = sine(10.5, 10.0, amplitude=20) + pink
    freqs, power = power_spectrum(signal, SFREQ, 4.0)
    assert dominant_frequency(freqs, power, 1.0, 45.0) == pytest.approx(10.5, abs=0.25)
    delta = sine(1.5, 10.0, amplitude=80) + sine(20, 10.0, amplitude=3)
    freqs, power = power_spectrum(delta, SFREQ, 4.0)
    assert dominant_frequency(freqs, power, 1.0, 45.0) == pytest.approx(1.5, abs=0.25)


@pytest.mark.parametrize(
    "channels",
    [["Fp1", "Fp2", "C3", "C4", "O1", "O2"], ["Fp1-F3", "Fp2-F4", "P3-O1", "P4-O2"], ["O1-AVG", "O2-AVG", "F3-AVG", "F4-AVG"]],
)
def test_posterior_dominant_rhythm_in_any_montage(channels):
    rng = np.random.default_rng(1)
    data = np.array([
        (sine(9.75, 10.0, amplitude=35, phase=i) if any(e.startswith("O") for e in electrodes_of(c)) else 0)
        + rng.normal(scale=3, size=2000)
        for i, c in enumerate(channels)
    ])  # fmt: skip
    background = analyse_background(data, SFREQ, channels)
    pdr = background["posterior_dominant_rhythm"]
    assert pdr["present"] and pdr["frequency_hz"] == pytest.approx(9.75, abs=0.25) and pdr["band"] == "alpha"
    assert pdr["amplitude_uv"] == pytest.approx(35, rel=0.1)
    assert re.match(r"posterior dominant rhythm 9\.[78] Hz \(alpha\), 3\d uV; ", background["summary"])


def test_no_posterior_rhythm_in_noise_is_said_with_the_reason():
    data = np.random.default_rng(2).normal(scale=10, size=(2, 2000))
    pdr = analyse_background(data, SFREQ, ["O1", "O2"])["posterior_dominant_rhythm"]
    assert not pdr["present"] and "stands out" in pdr["reason"]
    pdr = analyse_background(data, SFREQ, ["Fp1", "Fp2"])["posterior_dominant_rhythm"]
    assert not pdr["present"] and "no occipital" in pdr["reason"]


def test_asymmetry_names_the_lower_side():
    channels = ["Fp1-F7", "F7-T7", "Fp2-F8", "F8-T8", "Fz-Cz"]
    data = np.array([sine(8, 10.0, amplitude=a) for a in (10, 12, 40, 45, 30)])
    background = analyse_background(data, SFREQ, channels)
    assert not background["symmetry"]["symmetric"] and background["symmetry"]["pairs"] == 2
    assert {p["lower"] for p in background["symmetry"]["asymmetric_pairs"]} == {"left"}
    assert "asymmetric: left lower" in background["summary"]


def test_channel_geometry_helpers():
    assert electrodes_of("P7-O1") == ("P7", "O1") and electrodes_of("O1-AVG") == ("O1",)
    assert mirror_channel("Fp1-F7") == "Fp2-F8" and mirror_channel("C3-AVG") == "C4-AVG" and mirror_channel("Fz-Cz") == "Fz-Cz"
    assert side_of("Fp1-F7") == "left" and side_of("F4-C4") == "right" and side_of("Fz-Cz") == "midline"
    assert side_of("C3-Cz") == "mixed"
