"""The heartbeat in EEG: found by its regularity on real EEG, and subtracted."""

import numpy as np
import pytest

from cerebragloss.signals import read_recording, segments_from_recording
from cerebragloss.signals.cardiac import find_heartbeat, remove_heartbeat
from cerebragloss.signals.simulate import cardiac_artifact


def _page_signal(path) -> tuple[np.ndarray, float, list[str]]:
    segments = list(segments_from_recording(read_recording(path), "as_recorded"))
    return np.concatenate([s.data for s in segments], axis=1), segments[0].sfreq, segments[0].channels


@pytest.mark.shared_data
def test_a_heartbeat_is_found_in_sleep_eeg_by_its_regularity_and_none_where_there_is_none(shared_eeg):
    sleep, sfreq, _ = _page_signal(shared_eeg / "sleep" / "spinky_c3_test.edf")
    ecg = cardiac_artifact(sleep.shape[1], sfreq, 60.0, beats_per_min=66.0)
    heartbeat = find_heartbeat(sleep[0] + ecg, sfreq)
    assert heartbeat is not None and heartbeat.period_s == pytest.approx(60.0 / 66.0, rel=0.03)
    assert len(heartbeat.beats) >= 0.9 * 300 / (60.0 / 66.0)
    # spindle trains and K-complexes do not beat: no heartbeat in the sleep EEG as recorded
    assert find_heartbeat(sleep[0], sfreq) is None
    train, train_sfreq, _ = _page_signal(shared_eeg / "sleep" / "spinky_c3_train.edf")
    assert find_heartbeat(train[0], train_sfreq) is None


@pytest.mark.shared_data
def test_a_real_cardiac_artifact_is_found(shared_eeg):
    # eegbci S001R03 carries a pulse at 70 per minute on its left temporo-parietal electrodes
    data, sfreq, channels = _page_signal(shared_eeg / "eegbci" / "S001R03.edf")
    heartbeat = find_heartbeat(data[channels.index("P7")], sfreq)
    assert heartbeat is not None and 0.8 <= heartbeat.period_s <= 0.92
    assert find_heartbeat(data[channels.index("Fz")], sfreq) is None


@pytest.mark.shared_data
def test_the_heartbeat_is_subtracted_where_it_is_and_nowhere_else(shared_eeg):
    sleep, sfreq, _ = _page_signal(shared_eeg / "sleep" / "spinky_c3_test.edf")
    ecg = cardiac_artifact(sleep.shape[1], sfreq, 60.0)
    two = np.stack([sleep[0] + ecg, sleep[0][::-1].copy()])  # the second row: EEG without a heartbeat
    cleaned, note = remove_heartbeat(two, sfreq)
    assert note.startswith("heartbeat (ECG) subtracted from 1 of 2 channels")
    left = cleaned[0] - sleep[0]
    assert left.std() < 0.25 * ecg.std(), (left.std(), ecg.std())
    assert np.array_equal(cleaned[1], two[1])
    unchanged, note = remove_heartbeat(sleep, sfreq)
    assert note == "" and np.array_equal(unchanged, sleep)
