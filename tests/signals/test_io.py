"""Reading every supported format, and the errors bad files get."""

import mne
import numpy as np
import pytest

from cerebragloss.signals import RecordingError, read_recording
from tests.conftest import sine

NAMES = ["EEG FP1-REF", "EEG T3-REF", "EEG O1-REF", "ECG EKG-REF", "EOG LOC"]


def _raw(sfreq=250.0, seconds=12.0):
    signals = [sine(10, seconds, sfreq, 40), sine(5, seconds, sfreq, 30), sine(11, seconds, sfreq, 60),
               sine(1.2, seconds, sfreq, 500), sine(0.5, seconds, sfreq, 80)]  # fmt: skip
    info = mne.create_info(NAMES, sfreq, ch_types=["eeg", "eeg", "eeg", "ecg", "eog"])
    raw = mne.io.RawArray(np.vstack(signals) * 1e-6, info, verbose="error")
    raw.set_annotations(mne.Annotations([1.0, 4.5], [0.5, 0.0], ["eyes closed", "spike?"]))
    return raw, signals


def _check(recording, signals, sfreq=250.0):
    assert recording.electrodes == ["Fp1", "T7", "O1"]
    assert recording.sfreq == sfreq
    assert sorted(a.kind for a in recording.aux) == ["ecg", "eog"]
    np.testing.assert_allclose(recording.data[2], signals[2], atol=0.05)  # microvolts, within quantisation
    assert [a.description for a in recording.annotations] == ["eyes closed", "spike?"]
    assert recording.annotations[0].onset_s == pytest.approx(1.0, abs=1e-3)
    assert "Fp1" not in recording.missing and "Cz" in recording.missing


@pytest.mark.parametrize("fmt, suffix", [("edf", ".edf"), ("brainvision", ".vhdr"), ("eeglab", ".set")])
def test_exported_formats_read_back_with_channels_and_annotations(tmp_path, fmt, suffix):
    raw, signals = _raw()
    path = tmp_path / f"sub01_run1{suffix}"
    mne.export.export_raw(path, raw, fmt=fmt, verbose="error")
    _check(read_recording(path), signals)


def test_fif_reads_back(tmp_path):
    raw, signals = _raw()
    path = tmp_path / "sub01_run1_raw.fif"
    raw.save(path, verbose="error")
    recording = read_recording(path)
    _check(recording, signals)
    assert recording.subject == "sub01"


def test_bdf_and_nihon_kohden_from_real_files(shared_eeg):
    bdf = read_recording(shared_eeg / "bdf" / "multiple_annotation_chans.bdf")
    assert bdf.sfreq == 125 and "O2" in bdf.electrodes and len(bdf.annotations) > 0
    assert {a.kind for a in bdf.aux} >= {"emg", "eog", "ecg", "stim"}
    native = read_recording(shared_eeg / "nihon_kohden" / "MB0400FU.EEG")
    exported = read_recording(shared_eeg / "nihon_kohden" / "MB0400FU.EDF")
    assert sorted(native.electrodes) == sorted(exported.electrodes)
    assert len(native.electrodes) == 21 and not native.missing  # all 19 plus A1, A2
    # The vendor file and its EDF export hold the same signal.
    row = native.electrodes.index("O1"), exported.electrodes.index("O1")
    np.testing.assert_allclose(native.data[row[0]], exported.data[row[1]], atol=1.0)


def test_subject_pattern_overrides_the_default(write_edf):
    path = write_edf({"Fp1": sine(10, 11)}, name="site3-patient42-night2.edf")
    assert read_recording(path, subject_pattern=r"(patient\d+)").subject == "patient42"
    with pytest.raises(RecordingError, match="subject_pattern"):
        read_recording(path, subject_pattern=r"(nomatch\d+)")


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("empty.edf", b"", r"empty\.edf: file is empty"),
        ("recording.xyz", b"not eeg", r"recording\.xyz: unknown extension '\.xyz'"),
        ("garbage.edf", b"hello " * 100, r"garbage\.edf: header is not valid EDF"),
    ],
)
def test_files_that_are_not_recordings(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=problem):
        read_recording(path)


def test_truncated_edf(write_edf):
    path = write_edf({"Fp1": sine(10, 20), "O1": sine(10, 20)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(RecordingError, match="truncated") as error:
        read_recording(path)
    assert str(path) in str(error.value)


def test_edf_corrupted_by_crlf_conversion(write_edf):
    noise = np.random.default_rng(0).normal(scale=30, size=200 * 12)  # some samples hold a 0x0A byte
    path = write_edf({"Fp1": sine(10, 12) + noise, "O1": sine(3, 12)})
    data = path.read_bytes()
    assert b"\n" in data[256 * 3 :], "the fixture must contain LF bytes in its samples"
    path.write_bytes(data.replace(b"\n", b"\r\n"))
    with pytest.raises(RecordingError, match="LF->CRLF") as error:
        read_recording(path)
    assert str(path) in str(error.value)


def test_all_nan_channel_is_an_error_or_dropped_on_request(tmp_path):
    raw, _ = _raw()
    data = raw.get_data()
    data[1] = np.nan
    raw = mne.io.RawArray(data, raw.info, verbose="error")
    path = tmp_path / "nan_raw.fif"
    raw.save(path, verbose="error")
    with pytest.raises(RecordingError, match=r"nan_raw\.fif: channel 'EEG T3-REF' \(T7\) holds no finite sample"):
        read_recording(path)
    recording = read_recording(path, on_bad_channel="drop")
    assert recording.electrodes == ["Fp1", "O1"]
    assert "T7" in recording.missing and recording.not_used["EEG T3-REF"].startswith("all samples NaN")
