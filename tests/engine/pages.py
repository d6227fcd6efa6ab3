"""Pages with known content for the engine tests: simulated background of one state plus the
simulator's own events and artifacts, in a montage."""

import numpy as np

from cerebragloss.signals import TEN_TWENTY, apply_montage
from cerebragloss.signals.simulate import (
    BackgroundSettings,
    electrode_positions,
    simulate_background,
)

SFREQ = 200.0
ELECTRODES = list(TEN_TWENTY)
POSITIONS = electrode_positions(ELECTRODES)


def simulated_page(transients=(), state="awake", seed=0, montage="longitudinal_bipolar") -> tuple[np.ndarray, list[str]]:
    """``(data, channels)`` of a 10 s page at 200 Hz."""
    data = simulate_background(10.0, SFREQ, BackgroundSettings(state=state), ELECTRODES, seed=seed)
    for transient in transients:
        transient.apply(data, ELECTRODES, SFREQ)
    result = apply_montage(data, ELECTRODES, montage)
    return result.data, result.channels
