"""The label spaces every part shares: waveform classes, artifact types, sleep/wake states, bands.

One list each; the simulator, the detector, the engine, synthesis and evaluation import them from
here so that a renamed class cannot desynchronise them.
"""

from __future__ import annotations

#: The 9 waveform classes of the detector (DESIGN.md), in YOLO class-index order.
WAVEFORM_CLASSES: tuple[str, ...] = (
    "spike",
    "sharp_wave",
    "spike_and_slow_wave",
    "sharp_and_slow_wave",
    "polyspike",
    "k_complex",
    "sleep_spindle",
    "vertex_wave",
    "posts",
)

#: Epileptiform discharges (interictal): may appear in any state.
EPILEPTIFORM_CLASSES: tuple[str, ...] = WAVEFORM_CLASSES[:5]

#: Normal sleep transients: only in drowsiness and sleep.
SLEEP_CLASSES: tuple[str, ...] = WAVEFORM_CLASSES[5:]

#: Artifact types of the SegmentAnnotation (DESIGN.md).
ARTIFACT_TYPES: tuple[str, ...] = (
    "emg",
    "eog",
    "breathing",
    "electrode_pop",
    "electrode_noise",
    "flatline",
    "line_noise",
)

#: Vigilance states the simulator produces (``drowsy`` is N1).
STATES: tuple[str, ...] = ("awake", "drowsy", "n2", "n3")

#: Which sleep transients each state allows (AASM: vertex waves and POSTS from N1, spindles and
#: K-complexes define N2 and persist into N3).
SLEEP_CLASSES_BY_STATE: dict[str, tuple[str, ...]] = {
    "awake": (),
    "drowsy": ("vertex_wave", "posts"),
    "n2": ("k_complex", "sleep_spindle", "vertex_wave", "posts"),
    "n3": ("k_complex", "sleep_spindle"),
}

#: Frequency bands (Hz, lower edge inclusive) used for dominant-frequency labels.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("delta", 0.5, 4.0),
    ("theta", 4.0, 8.0),
    ("alpha", 8.0, 13.0),
    ("beta", 13.0, 30.0),
    ("gamma", 30.0, 80.0),
)


def band_of(frequency_hz: float) -> str:
    """The band a frequency falls in (below 0.5 Hz counts as delta)."""
    for name, _low, high in BANDS:
        if frequency_hz < high:
            return name
    return "gamma"
