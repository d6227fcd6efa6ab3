"""The heartbeat in EEG: found by its regularity on real EEG, and subtracted."""

import numpy as np
import pytest

from cerebragloss.signals import read_recording, segments_from_recording
from cerebragloss.signals.cardiac import _qrs_band, find_heartbeat, remove_heartbeat
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


@pytest.mark.shared_data
def test_a_real_ecg_channel_beats_and_the_eeg_beside_it_is_left_alone(shared_eeg):
    # eegmat's ECG channel holds a real heartbeat (76 per minute, a few hundred uV); the EEG beside
    # it, referenced to the ears, shows no QRS at those beats (< 4 uV in every channel's QRS band),
    # so nothing is subtracted
    from cerebragloss.engine.sleep import ecg_span

    recording = read_recording(shared_eeg / "eegmat" / "Subject00_1.edf")
    lead = ecg_span(recording, 0.0, recording.data.shape[1] / recording.sfreq, recording.sfreq)
    heartbeat = find_heartbeat(lead, recording.sfreq)
    assert heartbeat is not None and 60.0 / heartbeat.period_s == pytest.approx(76, abs=2)
    assert len(heartbeat.beats) >= 0.95 * 76 * recording.data.shape[1] / recording.sfreq / 60
    cleaned, note = remove_heartbeat(recording.data, recording.sfreq, lead)
    assert note == "" and np.array_equal(cleaned, recording.data)
    # a heartbeat of 15 uV played into the same EEG is taken out at the lead's beats
    qrs = np.zeros(recording.data.shape[1])
    qrs[np.asarray(heartbeat.beats)] = 1.0
    kernel = 15.0 * np.exp(-0.5 * (np.arange(-40, 41) / (0.01 * recording.sfreq)) ** 2)
    played = recording.data + np.convolve(qrs, kernel, mode="same")[None]
    cleaned, note = remove_heartbeat(played, recording.sfreq, lead)
    assert note.startswith(f"heartbeat (ECG) subtracted from {recording.data.shape[0]} of {recording.data.shape[0]} channels")
    assert "beats from the ECG channel" in note
    artifact, left = played - recording.data, cleaned - recording.data
    # around each beat (+-20 ms, in the QRS band) three quarters of the 15 uV QRS is gone; what is
    # left is mostly the awake EEG's own share of the median over 227 beats, which the subtraction
    # repeats at every beat (raw, with the alpha: 2.5 uV RMS against the QRS's 9.7 there); a
    # 30 min sleep window holds ten times the beats
    near = np.concatenate([np.arange(b - 10, b + 11) for b in heartbeat.beats if 10 <= b < artifact.shape[1] - 10])
    shown, kept = (np.sqrt(np.mean(_qrs_band(x, recording.sfreq)[:, near] ** 2)) for x in (artifact, left))
    assert kept < 0.3 * shown, (kept, shown)  # 0.75 against 3.1 uV RMS
