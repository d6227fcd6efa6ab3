"""Simulated EEG background written as EDF+, so the demo and the tests exercise the real reader.

This first version simulates background activity only (the waveform events, artifacts and their
truth files come with the detector work): spatially correlated 1/f activity plus a
state-dependent rhythm - posterior alpha when awake with eyes closed, diffuse theta when drowsy,
delta in deep sleep - at clinical amplitudes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cerebragloss.signals.channels import TEN_TWENTY

#: How much of the state's rhythm each electrode carries (posterior alpha is occipital/parietal).
_POSTERIOR_WEIGHT = {"O1": 1.0, "O2": 1.0, "P7": 0.6, "P8": 0.6, "P3": 0.6, "P4": 0.6, "Pz": 0.6,
                     "T7": 0.25, "T8": 0.25, "C3": 0.2, "C4": 0.2, "Cz": 0.2}  # fmt: skip


@dataclass(frozen=True)
class BackgroundSettings:
    """One subject's background. ``state``: ``awake`` (eyes closed), ``drowsy`` or ``n3``."""

    state: str = "awake"
    alpha_hz: float = 10.0  #: posterior dominant rhythm frequency
    alpha_uv: float = 40.0  #: half peak-to-peak of the alpha at O1/O2
    noise_uv: float = 8.0  #: RMS of the 1/f background at each electrode
    spatial_mm: float = 60.0  #: correlation length between electrodes on the scalp


def _electrode_positions(electrodes: list[str]) -> np.ndarray:
    import mne

    # MNE 1.13 renamed the template head's 10-20 montage; older releases only know the old name.
    known = mne.channels.get_builtin_montages()
    name = "colin27_1020" if "colin27_1020" in known else "standard_1020"
    positions = mne.channels.make_standard_montage(name).get_positions()["ch_pos"]
    return np.array([positions[name] for name in electrodes]) * 1000.0  # metres -> mm


def _pink_noise(rng: np.random.Generator, shape: tuple[int, int], sfreq: float) -> np.ndarray:
    spectrum = rng.normal(size=(shape[0], shape[1] // 2 + 1)) + 1j * rng.normal(size=(shape[0], shape[1] // 2 + 1))
    freqs = np.fft.rfftfreq(shape[1], 1 / sfreq)
    spectrum *= 1 / np.sqrt(np.maximum(freqs, 0.5))
    noise = np.fft.irfft(spectrum, n=shape[1], axis=1)
    return noise / noise.std(axis=1, keepdims=True)


def _waxing_rhythm(rng: np.random.Generator, n: int, sfreq: float, freq: float, jitter_hz: float = 0.3) -> np.ndarray:
    """A rhythm that drifts slightly in frequency and waxes and wanes over a few seconds."""
    t = np.arange(n) / sfreq
    drift = np.cumsum(rng.normal(scale=jitter_hz / np.sqrt(sfreq), size=n))
    phase = 2 * np.pi * np.cumsum(freq + drift - drift.mean()) / sfreq + rng.uniform(0, 2 * np.pi)
    envelope = 0.75 + 0.25 * np.sin(2 * np.pi * t / rng.uniform(2.0, 5.0) + rng.uniform(0, 2 * np.pi))
    return envelope * np.sin(phase)


def simulate_background(
    duration_s: float,
    sfreq: float = 200.0,
    settings: BackgroundSettings | None = None,
    electrodes: list[str] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """``[electrodes, samples]`` microvolts of background EEG against a linked-ear reference."""
    settings = settings or BackgroundSettings()
    electrodes = list(electrodes or TEN_TWENTY)
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sfreq))
    positions = _electrode_positions(electrodes)
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    mixing = np.exp(-((distance / settings.spatial_mm) ** 2))
    mixing /= np.linalg.norm(mixing, axis=1, keepdims=True)
    data = settings.noise_uv * (mixing @ _pink_noise(rng, (len(electrodes), n), sfreq))

    if settings.state == "awake":
        rhythm = _waxing_rhythm(rng, n, sfreq, settings.alpha_hz)
        weights = np.array([_POSTERIOR_WEIGHT.get(e, 0.08) for e in electrodes])
        data += settings.alpha_uv * weights[:, None] * rhythm[None]
    elif settings.state == "drowsy":
        rhythm = _waxing_rhythm(rng, n, sfreq, 6.0, jitter_hz=0.6)
        data += 0.6 * settings.alpha_uv * rhythm[None]
    elif settings.state == "n3":
        for freq in (0.8, 1.3, 1.9):
            data += 1.8 * settings.alpha_uv * _waxing_rhythm(rng, n, sfreq, freq, jitter_hz=0.1)[None] / 2
    else:
        raise ValueError(f"unknown state {settings.state!r}; choose awake, drowsy or n3")
    return data


def write_edf(path: str | Path, data_uv: np.ndarray, sfreq: float, channel_names: list[str], *, annotations=()) -> Path:
    """Write ``[channels, samples]`` microvolts as EDF+ (through MNE's exporter)."""
    import mne

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = mne.create_info(list(channel_names), sfreq, ch_types="eeg")
    raw = mne.io.RawArray(np.asarray(data_uv, dtype=np.float64) * 1e-6, info, verbose="error")
    if annotations:
        onsets, durations, descriptions = zip(*annotations, strict=True)
        raw.set_annotations(mne.Annotations(onsets, durations, descriptions))
    temporary = path.with_name(path.name + ".partial.edf")
    mne.export.export_raw(temporary, raw, fmt="edf", overwrite=True, verbose="error")
    temporary.replace(path)
    return path


def simulate_recordings(out_dir: str | Path, subjects: int = 2, minutes: float = 1.0, seed: int = 0, sfreq: float = 200.0) -> list[Path]:
    """Write ``subjects`` background recordings as ``out_dir/sim<NNN>_r0.edf`` with varied states.

    Channel names are written in the TUH style (``EEG FP1-REF``, old names ``T3``...) so that the
    channel-name mapping is exercised on every demo run.
    """
    old_name = {new: old for old, new in {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}.items()}
    names = [f"EEG {old_name.get(e, e).upper()}-REF" for e in TEN_TWENTY]
    rng = np.random.default_rng(seed)
    paths = []
    states = ("awake", "drowsy", "n3")
    for index in range(subjects):
        settings = BackgroundSettings(
            state=states[index % len(states)] if index else "awake",
            alpha_hz=float(rng.uniform(8.5, 11.5)),
            alpha_uv=float(rng.uniform(25, 50)),
        )
        data = simulate_background(minutes * 60, sfreq, settings, seed=seed * 1000 + index)
        path = Path(out_dir) / f"sim{index:03d}_r0.edf"
        paths.append(write_edf(path, data, sfreq, names, annotations=[(0.0, 0.0, f"state {settings.state}")]))
    return paths
