"""Waveform events and artifacts with exact ground truth, for the simulator and the hybrid mode.

Each generator returns a :class:`Transient`: what to add to which electrodes (microvolts, against
the recording reference) and the truth that goes with it. Waveform events are one waveform times a
scalp field (a gain per electrode), so their contribution to any montage channel ``a - b`` is
``(gain[a] - gain[b]) * waveform``: that is what lets truth boxes be computed exactly for every
montage (see ``cerebragloss.detection.truth``). Polarity follows EEG physiology: epileptiform
discharges, vertex waves and the first phase of K-complexes are surface-negative; POSTS and
blinks (at Fp1/Fp2) are positive.

Ranges the simulator draws from, and their sources (``_RANGES`` below holds the numbers):

- spike 20-70 ms, sharp wave 70-200 ms: IFCN glossary (Kane et al., Clin Neurophysiol Pract
  2017;2:170-185). Amplitudes are not part of those definitions; focal discharges are drawn at
  50-180 uV at their focus (against linked ears) and generalized spike-and-wave (3-6 complexes
  at 2.5-3.5 Hz) at 150-300 uV, typical adult values. Polyspikes: 3-5 spikes at 15-25 Hz.
- sleep spindle: 11-16 Hz and >= 0.5 s (AASM Manual for the Scoring of Sleep and Associated
  Events, N2 rules); drawn 0.5-2 s long at 10-50 uV peak-to-peak at the central maximum, C3, Cz
  and C4 alike, the adult range at C3/C4 (the expert-scored spindles of the SPINKY recordings in
  ``shared/data/eeg/sleep`` are 21-41 uV peak-to-peak at C3 in the 11-16 Hz band, 10th-90th
  percentile of 88, median 26-29).
- K-complex: a well-delineated negative sharp wave followed by a positive component, standing
  out from the background, >= 0.5 s in total, usually maximal frontally (AASM manual); drawn at
  75-220 uV peak-to-peak (75 uV: the AASM slow-wave amplitude criterion; the SPINKY K-complexes
  are 80-211 uV) and 0.65-1.1 s.
- vertex wave: sharp, negative, maximal at the vertex, in drowsiness and sleep (IFCN glossary);
  drawn 150-250 ms at 50-150 uV.
- POSTS: sharp transients maximal occipitally, positive relative to other areas, in sleep,
  amplitude "generally below 50 uV" (IFCN glossary); drawn 120-200 ms at 20-50 uV.
- short muscle (EMG) bursts (``make_muscle_burst``, an artifact, type ``emg``; drawn only where
  ``SimulationSettings.muscle_bursts_per_page`` asks): brief contractions of the frontalis and
  temporalis (a jaw clench, a swallow, a frown) give 0.2-1 s bursts of fast activity, "very brief
  potentials ... usually above 20 Hz", most prominent over the frontal and temporal electrodes
  (IFCN glossary, "muscle artifact"; Tatum et al., "Artifact and recording concepts in EEG",
  J Clin Neurophysiol 2011;28:252-263); drawn on 1-4 neighbouring electrodes, mostly
  frontal/temporal, as broadband 20-100 Hz noise, a dense train of motor-unit potentials or a
  few motor units firing at 8-30 Hz (single motor-unit potentials are spiky and can mimic spikes
  and polyspikes: Tatum et al. 2011), all filtered above 20 Hz, 15-60 uV RMS, sometimes flush with a page edge, sometimes over high-amplitude
  posterior alpha. They are what the detector's false polyspikes on real awake EEG were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Electrodes chosen as the focus of a focal discharge, weighted towards the temporal lobes
#: where most interictal discharges of adults arise.
_FOCI = {"F7": 3, "T7": 3, "P7": 2, "F8": 3, "T8": 3, "P8": 2, "F3": 1, "F4": 1, "C3": 1, "C4": 1,
         "Fp1": 1, "Fp2": 1, "P3": 1, "P4": 1, "O1": 1, "O2": 1}  # fmt: skip

#: (low, high) of each drawn quantity; sources in the module docstring. Amplitudes in uV at the
#: event's maximum (``_pp_uv``: peak-to-peak, else the largest deflection), durations in seconds.
_RANGES = {
    # from zero to zero; the phase a reader measures (the samples off zero) is one sample
    # shorter, so the draws start above 20 and 70 ms to keep it inside the definitions at 200 Hz
    "spike_s": (0.03, 0.07),
    "sharp_wave_s": (0.08, 0.2),
    "focal_uv": (50.0, 180.0),
    "generalized_uv": (150.0, 300.0),
    "spindle_hz": (11.0, 16.0),
    "spindle_s": (0.5, 2.0),
    "spindle_pp_uv": (10.0, 50.0),
    "k_complex_pp_uv": (75.0, 220.0),
    "vertex_wave_s": (0.15, 0.25),
    "vertex_wave_uv": (50.0, 150.0),
    "posts_s": (0.12, 0.2),
    "posts_uv": (20.0, 50.0),
}


def _draw(rng, name: str) -> float:
    return float(rng.uniform(*_RANGES[name]))


@dataclass
class Transient:
    """One simulated event or artifact: its truth and what it adds to the signal."""

    kind: str  #: "event" or "artifact"
    label: str  #: waveform class or artifact type
    onset_s: float
    offset_s: float
    channels: list[str]  #: electrodes carrying at least 30 % of the largest contribution
    amplitude_uv: float  #: largest absolute contribution at any electrode
    #: rank-one transients (all events, most artifacts): waveform and per-electrode gain
    waveform: np.ndarray | None = None
    gains: dict[str, float] = field(default_factory=dict)
    #: other artifacts: per-electrode signals (EMG: independent noise on each electrode)
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    replace: bool = False  #: flatline: the span is replaced, not added

    def truth(self) -> dict:
        """The JSON record of this transient in ``<recording>.events.json``."""
        record = {
            ("class" if self.kind == "event" else "type"): self.label,
            "channels": self.channels,
            "onset_s": round(self.onset_s, 4),
            "offset_s": round(self.offset_s, 4),
            "amplitude_uv": round(self.amplitude_uv, 1),
        }
        if self.waveform is not None:
            # Enough to draw the event's extent in any montage without the samples.
            record["gains"] = {name: round(gain, 4) for name, gain in self.gains.items() if abs(gain) >= 0.01}
            record["extremes_uv"] = [round(float(self.waveform.min()), 2), round(float(self.waveform.max()), 2)]
        return record

    def apply(self, data: np.ndarray, electrodes: list[str], sfreq: float) -> None:
        """Add (or, for a flatline, write) this transient into ``data`` ``[electrodes, samples]``."""
        first = int(round(self.onset_s * sfreq))
        index = {name: i for i, name in enumerate(electrodes)}
        if self.replace:
            last = int(round(self.offset_s * sfreq))
            for name in self.channels:
                data[index[name], first:last] = 0.0
            return
        contributions = self.signals or {name: gain * self.waveform for name, gain in self.gains.items()}
        for name, signal in contributions.items():
            stop = min(data.shape[1], first + len(signal))
            data[index[name], first:stop] += signal[: stop - first]


# --- waveform shapes (unit amplitude) ---------------------------------------------------------


def _samples(duration_s: float, sfreq: float) -> int:
    return max(3, int(round(duration_s * sfreq)))


def pointed_peak(duration_s: float, sfreq: float, rise_fraction: float = 0.4, sharpness: float = 2.0) -> np.ndarray:
    """0 -> 1 -> 0 with a pointed apex; ``sharpness`` > 1 makes the flanks concave (spiky)."""
    n = _samples(duration_s, sfreq)
    t = np.linspace(0.0, 1.0, n)
    ramp = np.where(t < rise_fraction, t / rise_fraction, (1.0 - t) / (1.0 - rise_fraction))
    return ramp**sharpness


def half_sine(duration_s: float, sfreq: float) -> np.ndarray:
    return np.sin(np.pi * np.linspace(0.0, 1.0, _samples(duration_s, sfreq)))


def _discharge(rng, sfreq: float, label: str) -> np.ndarray:
    """Surface-negative epileptiform waveform of one class, peak magnitude 1."""
    if label == "spike":
        return -pointed_peak(_draw(rng, "spike_s"), sfreq, rng.uniform(0.3, 0.45), 2.0)
    if label == "sharp_wave":
        return -pointed_peak(_draw(rng, "sharp_wave_s"), sfreq, rng.uniform(0.3, 0.45), 1.4)
    if label == "polyspike":
        parts = []
        for _ in range(rng.integers(3, 6)):
            parts.append(-rng.uniform(0.6, 1.0) * pointed_peak(rng.uniform(0.03, 0.045), sfreq, 0.4, 2.0))
            parts.append(0.15 * half_sine(rng.uniform(0.015, 0.03), sfreq))
        return np.concatenate(parts)
    head = "spike" if label == "spike_and_slow_wave" else "sharp_wave"
    slow = -rng.uniform(0.5, 0.8) * half_sine(rng.uniform(0.2, 0.33), sfreq)
    return np.concatenate([_discharge(rng, sfreq, head), 0.15 * half_sine(0.03, sfreq), slow])


# --- scalp fields -----------------------------------------------------------------------------


def gaussian_field(positions: dict[str, np.ndarray], centre: np.ndarray, width_mm: float) -> dict[str, float]:
    """Gain per electrode falling off with scalp distance from ``centre`` (1 at the centre)."""
    return {name: float(np.exp(-np.sum((p - centre) ** 2) / (2 * width_mm**2))) for name, p in positions.items()}


def _normalised(gains: dict[str, float]) -> dict[str, float]:
    top = max(abs(g) for g in gains.values())
    return {name: g / top for name, g in gains.items()}


def _centre(positions: dict[str, np.ndarray], names: list[str], fallback: str | None = None) -> np.ndarray:
    present = [positions[n] for n in names if n in positions]
    if not present:
        present = [positions[fallback or next(iter(positions))]]
    return np.mean(present, axis=0)


# --- events -----------------------------------------------------------------------------------


def make_event(label: str, onset_s: float, sfreq: float, positions: dict[str, np.ndarray], rng) -> Transient:
    """One waveform event of class ``label`` starting at ``onset_s`` over the given electrodes."""
    if label in ("spike", "sharp_wave", "spike_and_slow_wave", "sharp_and_slow_wave", "polyspike"):
        generalized = label in ("spike_and_slow_wave", "polyspike") and rng.random() < 0.4
        if generalized:
            # Generalized discharges are bilateral and frontally predominant; spike-and-wave comes
            # in ~3 Hz runs, polyspikes in a single burst.
            centre = _centre(positions, ["Fz"], fallback=None) + np.array([0.0, 10.0, 0.0])
            gains = gaussian_field(positions, centre, rng.uniform(60, 75))
            repeats = rng.integers(3, 7) if label == "spike_and_slow_wave" else 1
            period = 1.0 / rng.uniform(2.5, 3.5)
            complexes = [_discharge(rng, sfreq, label) for _ in range(repeats)]
            length = max(int(round((repeats - 1) * period * sfreq)) + len(complexes[-1]), max(map(len, complexes)))
            waveform = np.zeros(length)
            for k, shape in enumerate(complexes):
                start = int(round(k * period * sfreq))
                stop = min(length, start + len(shape))
                waveform[start:stop] += shape[: stop - start]
            amplitude = _draw(rng, "generalized_uv")
        else:
            names = [n for n in _FOCI if n in positions] or list(positions)
            weights = np.array([_FOCI.get(n, 1) for n in names], dtype=float)
            focus = names[rng.choice(len(names), p=weights / weights.sum())]
            gains = gaussian_field(positions, positions[focus], rng.uniform(28, 40))
            waveform = _discharge(rng, sfreq, label)
            amplitude = _draw(rng, "focal_uv")
    elif label == "k_complex":
        # Negative sharp component, then a slower positive one; frontocentral maximum.
        gains = gaussian_field(positions, _centre(positions, ["Fz", "Cz"]), rng.uniform(55, 70))
        negative = -pointed_peak(rng.uniform(0.25, 0.4), sfreq, 0.45, 1.2)
        positive = rng.uniform(0.5, 0.7) * half_sine(rng.uniform(0.4, 0.7), sfreq)
        waveform = np.concatenate([negative, positive])
        amplitude = _peak_for_peak_to_peak(waveform, _draw(rng, "k_complex_pp_uv"))
    elif label == "sleep_spindle":
        n = _samples(_draw(rng, "spindle_s"), sfreq)
        t = np.arange(n) / sfreq
        waveform = np.hanning(n) * np.sin(2 * np.pi * _draw(rng, "spindle_hz") * t + rng.uniform(0, 2 * np.pi))
        # the central region, C3, Cz and C4 alike, is the maximum the amplitude is drawn for (a
        # field centred on Cz alone gave C3/C4 0.40-0.56 of it: spindles half the SPINKY ones there)
        width = rng.uniform(55, 70)
        fields = [gaussian_field(positions, positions[n], width) for n in ("C3", "Cz", "C4") if n in positions]
        gains = ({n: max(f[n] for f in fields) for n in positions} if fields
                 else gaussian_field(positions, _centre(positions, ["Cz"], fallback=None), rng.uniform(55, 70)))  # fmt: skip
        amplitude = _peak_for_peak_to_peak(waveform, _draw(rng, "spindle_pp_uv"))
    elif label == "vertex_wave":
        waveform = -pointed_peak(_draw(rng, "vertex_wave_s"), sfreq, 0.5, 1.5)
        waveform = np.concatenate([waveform, 0.2 * half_sine(0.12, sfreq)])
        gains = gaussian_field(positions, _centre(positions, ["Cz"]), rng.uniform(40, 50))
        amplitude = _draw(rng, "vertex_wave_uv")
    elif label == "posts":
        # Bilateral occipital, positive, "check mark": quick rise, slower return.
        waveform = pointed_peak(_draw(rng, "posts_s"), sfreq, 0.3, 1.3)
        left = gaussian_field(positions, _centre(positions, ["O1"], fallback=None), 35)
        right = gaussian_field(positions, _centre(positions, ["O2"], fallback=None), 35)
        gains = {n: max(left[n], right[n]) for n in positions}
        amplitude = _draw(rng, "posts_uv")
    else:
        raise ValueError(f"unknown waveform class {label!r}")
    waveform = amplitude * waveform / np.max(np.abs(waveform))
    gains = _normalised(gains)
    return _rank_one("event", label, onset_s, sfreq, waveform, gains)


def _peak_for_peak_to_peak(waveform: np.ndarray, peak_to_peak_uv: float) -> float:
    """The largest deflection that gives ``waveform`` (any scale) this peak-to-peak amplitude."""
    return peak_to_peak_uv * np.max(np.abs(waveform)) / (waveform.max() - waveform.min())


def _rank_one(kind: str, label: str, onset_s: float, sfreq: float, waveform: np.ndarray, gains: dict[str, float]) -> Transient:
    peak = float(np.max(np.abs(waveform)))
    strongest = max(abs(g) for g in gains.values())
    channels = [name for name, gain in gains.items() if abs(gain) >= 0.3 * strongest]
    return Transient(
        kind=kind, label=label, onset_s=onset_s, offset_s=onset_s + len(waveform) / sfreq,
        channels=channels, amplitude_uv=peak * strongest, waveform=waveform, gains=gains,
    )  # fmt: skip


# --- artifacts --------------------------------------------------------------------------------


def _band_limited(signal: np.ndarray, sfreq: float, low: float, high: float = np.inf) -> np.ndarray:
    """``signal`` with its spectrum outside ``low``-``high`` Hz removed, scaled to unit RMS."""
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(len(signal), 1 / sfreq)
    spectrum[(freqs < low) | (freqs > high)] = 0
    limited = np.fft.irfft(spectrum, n=len(signal))
    return limited / (limited.std() + 1e-12)


def _band_noise(rng, n: int, sfreq: float, low: float, high: float) -> np.ndarray:
    return _band_limited(rng.normal(size=n), sfreq, low, high)


def _tukey(n: int, taper: float = 0.2) -> np.ndarray:
    from scipy.signal.windows import tukey

    return tukey(n, taper)


def make_artifact(label: str, onset_s: float, sfreq: float, positions: dict[str, np.ndarray], rng, max_duration_s: float) -> Transient:
    """One artifact of type ``label`` (see ``cerebragloss.labels.ARTIFACT_TYPES``)."""
    names = list(positions)
    left_temporal = [n for n in ("F7", "T7", "P7") if n in positions]
    right_temporal = [n for n in ("F8", "T8", "P8") if n in positions]
    if label == "emg":
        # Scalp muscle: broadband 20-70 Hz, independent at each electrode over one temporalis.
        group = (left_temporal if rng.random() < 0.5 else right_temporal) or names[:2]
        duration = min(max_duration_s, rng.uniform(1.0, 3.5))
        n = _samples(duration, sfreq)
        rms = rng.uniform(12, 30)
        signals = {e: rms * _tukey(n) * _band_noise(rng, n, sfreq, 20, min(70, sfreq / 2 - 1)) for e in group}
        return Transient("artifact", "emg", onset_s, onset_s + n / sfreq, list(group), float(max(np.abs(s).max() for s in signals.values())), signals=signals)
    if label == "eog":
        if rng.random() < 0.6:
            # Blink: the cornea is positive, the eyes roll up, Fp1/Fp2 go positive.
            waveform = rng.uniform(100, 220) * half_sine(rng.uniform(0.25, 0.4), sfreq)
            gains = {"Fp1": 1.0, "Fp2": 1.0, "F7": 0.35, "F8": 0.35, "F3": 0.35, "F4": 0.35, "Fz": 0.3}
        else:
            # Lateral gaze: the cornea approaches F7 (looking left), F8 goes the other way.
            n = _samples(rng.uniform(0.6, 1.5), sfreq)
            edge = max(2, int(0.08 * sfreq))
            plateau = np.ones(n)
            plateau[:edge] = np.linspace(0, 1, edge)
            plateau[-edge:] = np.linspace(1, 0, edge)
            sign = 1.0 if rng.random() < 0.5 else -1.0
            waveform = rng.uniform(50, 100) * plateau
            gains = {"F7": sign, "F8": -sign, "Fp1": 0.4 * sign, "Fp2": -0.4 * sign, "T7": 0.3 * sign, "T8": -0.3 * sign}
        gains = {e: g for e, g in gains.items() if e in positions} or {names[0]: 1.0}
        return _rank_one("artifact", "eog", onset_s, sfreq, waveform, gains)
    if label == "breathing":
        # Slow sway (breathing, sweat) at 0.3-0.6 Hz over a patch of electrodes.
        n = _samples(min(max_duration_s, rng.uniform(6, 12)), sfreq)
        t = np.arange(n) / sfreq
        waveform = rng.uniform(70, 140) * _tukey(n, 0.3) * np.sin(2 * np.pi * rng.uniform(0.3, 0.6) * t)
        centre = positions[names[rng.integers(len(names))]]
        gains = {e: g for e, g in gaussian_field(positions, centre, 35).items() if g >= 0.3}
        return _rank_one("artifact", "breathing", onset_s, sfreq, waveform, gains)
    electrode = names[rng.integers(len(names))]
    if label == "electrode_pop":
        # A sudden change of electrode impedance: a vertical jump, then exponential recovery.
        tau = rng.uniform(0.1, 0.3)
        n = _samples(4 * tau, sfreq)
        waveform = rng.choice([-1, 1]) * rng.uniform(150, 350) * np.exp(-np.arange(n) / sfreq / tau)
        return _rank_one("artifact", "electrode_pop", onset_s, sfreq, waveform, {electrode: 1.0})
    if label == "electrode_noise":
        n = _samples(min(max_duration_s, rng.uniform(1.5, 4.0)), sfreq)
        steps = np.cumsum(rng.normal(scale=1.0, size=n) * (rng.random(n) < 0.05) * 6)
        waveform = rng.uniform(40, 90) * _tukey(n, 0.1) * (_band_noise(rng, n, sfreq, 1, 25) + steps / (np.abs(steps).max() + 1e-9))
        return _rank_one("artifact", "electrode_noise", onset_s, sfreq, waveform, {electrode: 1.0})
    if label == "flatline":
        duration = min(max_duration_s, rng.uniform(6.0, 20.0))
        return Transient("artifact", "flatline", onset_s, onset_s + duration, [electrode], 0.0, replace=True)
    if label == "line_noise":
        n = _samples(min(max_duration_s, rng.uniform(6.0, 20.0)), sfreq)
        t = np.arange(n) / sfreq
        mains = 50.0 if rng.random() < 0.5 else 60.0
        waveform = rng.uniform(15, 40) * _tukey(n, 0.05) * np.sin(2 * np.pi * mains * t)
        return _rank_one("artifact", "line_noise", onset_s, sfreq, waveform, {electrode: 1.0})
    raise ValueError(f"unknown artifact type {label!r}")


#: Where brief muscle bursts arise: frontalis and temporalis lie under the frontopolar, frontal
#: and temporal electrodes (sources in the module docstring); weights of the burst's centre.
_MUSCLE_SITES = {"F7": 3, "T7": 3, "Fp1": 3, "F8": 3, "T8": 3, "Fp2": 3, "F3": 1.5, "F4": 1.5,
                 "Fz": 1, "P7": 1, "P8": 1}  # fmt: skip
#: Posterior alpha that may accompany a burst (an awake patient with eyes closed who clenches).
_ALPHA_FIELD = {"O1": 1.0, "O2": 1.0, "P3": 0.7, "P4": 0.7, "Pz": 0.7, "P7": 0.6, "P8": 0.6,
                "T7": 0.25, "T8": 0.25}  # fmt: skip

#: (low, high) of a short muscle burst: duration in s, RMS in uV at its strongest electrode.
MUSCLE_BURST_S = (0.2, 1.0)
MUSCLE_BURST_RMS_UV = (15.0, 60.0)


def _motor_unit_train(rng, n: int, sfreq: float) -> np.ndarray:
    """Asynchronous motor-unit potentials (brief biphasic spikes at random times), unit RMS, > 20 Hz."""
    train = np.zeros(n)
    for _ in range(rng.poisson(rng.uniform(60, 200) * n / sfreq) + 1):
        width = rng.uniform(0.0015, 0.004) * sfreq
        centre = rng.uniform(0, n)
        t = (np.arange(n) - centre) / max(width, 0.5)
        train += rng.normal() * t * np.exp(-0.5 * t**2)
    return _band_limited(train, sfreq, 20.0)


def _few_motor_units(rng, n: int, sfreq: float) -> np.ndarray:
    """One to three motor units firing at 8-30 Hz: a few large, sharp, irregular potentials (a
    weak brief contraction), the burst that looks most like a polyspike on paper. Unit RMS, > 20 Hz."""
    train = np.zeros(n)
    for _ in range(int(rng.integers(1, 4))):
        width = rng.uniform(0.0025, 0.005) * sfreq  # a 10-20 ms biphasic potential (+-2 widths)
        shape_sign, scale = rng.choice([-1.0, 1.0]), rng.uniform(0.5, 1.0)
        time = rng.uniform(0, 0.05)
        while time * sfreq < n:
            t = (np.arange(n) - time * sfreq) / max(width, 0.5)
            train += shape_sign * scale * rng.uniform(0.7, 1.3) * t * np.exp(-0.5 * t**2)
            time += 1.0 / rng.uniform(8, 30) * rng.uniform(0.8, 1.2)
    return _band_limited(train, sfreq, 20.0)


def make_muscle_burst(onset_s: float, sfreq: float, positions: dict[str, np.ndarray], rng, max_duration_s: float,
                      duration_s: float | None = None) -> Transient:  # fmt: skip
    """A 0.2-1 s burst of scalp muscle on 1-4 neighbouring electrodes (an ``emg`` artifact).

    Independent fast activity at each electrode (muscle is not a cerebral field), in one of three
    textures - band-limited noise, a dense train of motor-unit potentials, or a few motor units
    firing (large sharp potentials, as spiky as a polyspike) - with an abrupt onset and offset."""
    names = list(positions)
    sites = [n for n in _MUSCLE_SITES if n in positions] or names
    weights = np.array([_MUSCLE_SITES.get(n, 1.0) for n in sites])
    centre = sites[rng.choice(len(sites), p=weights / weights.sum())]
    count = min(len(names), int(rng.integers(1, 5)))
    group = sorted(names, key=lambda n: float(np.sum((positions[n] - positions[centre]) ** 2)))[:count]
    duration = duration_s if duration_s is not None else rng.uniform(*MUSCLE_BURST_S)
    n = _samples(min(max_duration_s, duration), sfreq)
    rms = rng.uniform(*MUSCLE_BURST_RMS_UV)
    envelope = _tukey(n, 0.15)
    signals = {}
    for k, name in enumerate(group):
        kind = rng.random()
        if kind < 1 / 3:
            texture = _band_noise(rng, n, sfreq, 20, min(100, sfreq / 2 - 1))
        elif kind < 2 / 3:
            texture = _motor_unit_train(rng, n, sfreq)
        else:
            texture = _few_motor_units(rng, n, sfreq)
        signals[name] = (rms if k == 0 else rms * rng.uniform(0.4, 1.0)) * envelope * texture
    amplitude = float(max(np.abs(s).max() for s in signals.values()))
    return Transient("artifact", "emg", onset_s, onset_s + n / sfreq, list(group), amplitude, signals=signals)


def make_alpha_run(onset_s: float, duration_s: float, sfreq: float, positions: dict[str, np.ndarray], rng) -> Transient | None:
    """A run of high-amplitude posterior alpha (40-80 uV peak at O1/O2), laid under a muscle burst.

    It is background, not an event or artifact (``kind="background"``: the truth file does not
    list it); None where the recording has no posterior electrode."""
    gains = {name: gain for name, gain in _ALPHA_FIELD.items() if name in positions}
    if not gains:
        return None
    n = _samples(duration_s, sfreq)
    t = np.arange(n) / sfreq
    waveform = rng.uniform(40, 80) * _tukey(n, 0.3) * np.sin(2 * np.pi * rng.uniform(8.5, 11.5) * t + rng.uniform(0, 2 * np.pi))
    return Transient("background", "alpha", onset_s, onset_s + n / sfreq, list(gains), float(np.abs(waveform).max()),
                     waveform=waveform, gains=gains)  # fmt: skip
