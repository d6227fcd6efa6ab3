"""Each artifact detector on a page holding that artifact alone (made by the simulator's own
artifact generators on simulated background), and on clean pages."""

import numpy as np
import pytest

from cerebragloss.engine.artifacts import find_artifacts
from cerebragloss.signals.transients import make_artifact, make_event
from tests.engine.pages import POSITIONS, SFREQ, simulated_page


@pytest.mark.parametrize("kind", ["emg", "eog", "electrode_pop", "electrode_noise", "line_noise", "breathing"])
def test_each_artifact_is_found_where_it_is(kind):
    hits = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        artifact = make_artifact(kind, 3.0, SFREQ, POSITIONS, rng, max_duration_s=6.5)
        data, channels = simulated_page([artifact], seed=seed)
        found = [a for a in find_artifacts(data, SFREQ, channels) if a["type"] == kind]
        overlapping = [a for a in found if a["start_s"] <= artifact.offset_s and a["end_s"] >= artifact.onset_s]
        if overlapping:
            hits += 1
            through = {c for c in channels if set(c.split("-")) & set(artifact.channels)}
            assert set(overlapping[0]["channels"]) & through
    assert hits >= 5, f"{kind}: found on {hits} of 6 pages"


@pytest.mark.parametrize("state", ["awake", "drowsy", "n2", "n3"])
def test_clean_background_raises_no_artifact(state):
    for seed in range(3):
        data, channels = simulated_page(state=state, seed=seed)
        assert find_artifacts(data, SFREQ, channels) == [], state


@pytest.mark.parametrize("label", ["spike", "sharp_wave", "polyspike", "sleep_spindle", "vertex_wave", "posts"])
def test_waveforms_are_not_taken_for_artifacts(label):
    false = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        state = "n2" if label in ("sleep_spindle", "vertex_wave", "posts") else "awake"
        data, channels = simulated_page([make_event(label, 4.0, SFREQ, POSITIONS, rng)], state=state, seed=seed)
        false += bool(find_artifacts(data, SFREQ, channels))
    assert false <= 1, f"{label} called an artifact on {false} of 5 pages"
