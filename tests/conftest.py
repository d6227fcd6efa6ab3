"""Shared fixtures: local caches, the real recordings in ../shared/data/eeg, small EDF writers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cerebragloss.runtime import project_root, use_local_caches

use_local_caches()

SHARED_EEG = Path(os.environ.get("CEREBRAGLOSS_SHARED_EEG", project_root().parent / "shared" / "data" / "eeg"))


@pytest.fixture(scope="session")
def shared_eeg() -> Path:
    """The real recordings of ../shared/data/eeg; tests that need them skip where it is absent."""
    if not SHARED_EEG.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_EEG} (set CEREBRAGLOSS_SHARED_EEG to their folder)")
    return SHARED_EEG


@pytest.fixture
def write_edf(tmp_path):
    """Write ``{channel name: microvolts}`` at ``sfreq`` as an EDF+ file in tmp_path."""
    from cerebragloss.signals.simulate import write_edf as write

    def make(channels: dict[str, np.ndarray], sfreq: float = 200.0, name: str = "rec_01.edf", annotations=()) -> Path:
        data = np.vstack([np.asarray(v, dtype=np.float64) for v in channels.values()])
        return write(tmp_path / name, data, sfreq, list(channels), annotations=annotations)

    return make


def sine(freq: float, seconds: float, sfreq: float = 200.0, amplitude: float = 50.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * sfreq))) / sfreq
    return amplitude * np.sin(2 * np.pi * freq * t + phase)
