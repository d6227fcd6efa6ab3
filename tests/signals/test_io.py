"""Reading every supported format, and the errors bad files get."""

import mne
import numpy as np
import pytest

from cerebragloss.signals import MontageError, RecordingError, read_recording
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


# --- files without EEG, and caps whose labels are not 10-20 sites -----------------------------

def test_a_hypnogram_only_edf_says_it_holds_no_eeg_signal(tmp_path):
    from edfio import Edf, EdfAnnotation

    path = tmp_path / "SN001_sleepscoring.edf"
    Edf([], annotations=[EdfAnnotation(0, 30, "Sleep stage W"), EdfAnnotation(30, 30, "Sleep stage N1")]).write(path)
    with pytest.raises(RecordingError) as error:
        read_recording(path)
    message = str(error.value)
    assert message.startswith(f"{path}: this file holds no EEG signal: no signal channel at all")
    assert "Sleep stage W" in message and "picks" not in message


def test_a_file_of_other_signals_says_it_holds_no_eeg_signal(write_edf):
    path = write_edf({"ECG": sine(1.2, 12, amplitude=500), "ramp": np.linspace(0, 100, 2400), "Pleth": sine(1, 12)})
    with pytest.raises(RecordingError, match=r"rec_01.edf: this file holds no EEG signal: none of its 3 channels.*ecg: ECG"):
        read_recording(path)


@pytest.mark.shared_data
def test_a_recording_of_bipolar_derivations_only_is_read_as_recorded_like_the_same_derivations(shared_eeg, write_edf):
    # A sleep study's "EEG Fpz-Cz" / "EEG Pz-Oz", or a clinical export of the double banana: these
    # rows are the recording (they were refused as "no EEG signal"). The recorded double banana of
    # a real awake file must be read as the engine reads the double banana derived from it.
    import json

    from cerebragloss.engine.annotate import annotate
    from cerebragloss.signals import apply_montage, choose_montage, segments_from_recording

    referential = read_recording(shared_eeg / "eegmat" / "Subject00_1.edf")
    banana = apply_montage(referential.data, referential.electrodes, "longitudinal_bipolar")
    recorded = read_recording(write_edf({f"EEG {c}": row for c, row in zip(banana.channels, banana.data, strict=True)},
                                        sfreq=referential.sfreq, name="banana_export.edf"))  # fmt: skip
    assert recorded.electrodes == banana.channels and not recorded.not_used
    assert choose_montage(recorded.electrodes).name == "as_recorded" and "only bipolar derivations" in recorded.notes[-1]
    with pytest.raises(MontageError, match="needs at least 3 10-20 electrodes"):
        apply_montage(recorded.data, recorded.electrodes, "average")
    derived = segments_from_recording(referential, "longitudinal_bipolar", max_segments=2)
    drawn = segments_from_recording(recorded, "auto", max_segments=2)
    for ours, theirs in zip(derived, drawn, strict=True):
        assert ours.channels == theirs.channels and theirs.montage == "as_recorded"
        mine, other = annotate(ours), annotate(theirs)
        for part in ("background", "artifacts", "events", "findings"):
            assert json.dumps(mine[part], sort_keys=True) == json.dumps(other[part], sort_keys=True), part


def test_sleep_study_derivations_are_kept_and_ear_to_ear_is_not(write_edf):
    path = write_edf({"EEG Fpz-Cz": sine(10, 12), "EEG Pz-Oz": sine(11, 12), "EEG A2-A1": sine(1, 12), "EOG horizontal": sine(0.5, 12)})
    recording = read_recording(path)
    assert recording.electrodes == ["Fpz-Cz", "Pz-Oz"] and "EEG A2-A1" in recording.not_used


def _eeg(names, sfreq=100.0, seconds=12.0):
    rng = np.random.default_rng(0)
    return {name: rng.normal(scale=20, size=int(sfreq * seconds)) for name in names}


def test_biosemi_abc_labels_are_not_read_as_ten_twenty_electrodes(write_edf):
    # A 64-channel BioSemi cap in its ABC layout: A1 and A2 are not ear electrodes, and there is no
    # 10-20 site among them; the ECG is still kept apart.
    abc = [f"{ring}{number}" for ring in "AB" for number in range(1, 33)]
    path = write_edf(_eeg([*abc, "ECG"]), sfreq=100.0, name="biosemi64.edf")
    with pytest.raises(RecordingError) as error:
        read_recording(path)
    assert "no channel could be placed on a 10-20/10-10 site" in str(error.value)
    assert "BioSemi's ABC layout (64 channels, A1-B32)" in str(error.value)


def test_abc_layout_with_a_few_ten_twenty_electrodes_keeps_those_and_says_what_was_decided(write_edf):
    abc = [f"{ring}{number}" for ring in "CD" for number in range(1, 33)]  # C3 here is an ABC position
    path = write_edf(_eeg([*abc, "Fp1", "Fp2", "Cz"]), name="cap.edf")
    recording = read_recording(path)
    assert recording.electrodes == ["Fp1", "Fp2", "Cz"] and "C3" not in recording.electrodes
    assert "BioSemi's ABC layout" in recording.not_used["C3"]
    assert "labels follow BioSemi's ABC layout (64 channels, C1-D32): none placed" in recording.describe()


def _file_with_positions(tmp_path, names, positions, name, suffix="_raw.fif"):
    info = mne.create_info(names, 100.0, "eeg")
    raw = mne.io.RawArray(np.vstack(list(_eeg(names).values())) * 1e-6, info, verbose="error")
    montage = mne.channels.make_dig_montage(ch_pos=dict(zip(names, positions, strict=True)), coord_frame="head")
    raw.set_montage(montage, verbose="error")
    path = tmp_path / f"{name}{suffix}"
    if suffix == "_raw.fif":
        raw.save(path, verbose="error")
    else:
        mne.export.export_raw(path, raw, verbose="error")
    return path


def _template(montage_name):
    builtin = mne.channels.get_builtin_montages()
    # MNE 1.13 renamed standard_10xx to colin27_10xx; older versions know only the first
    montage_name = montage_name.replace("standard", "colin27") if montage_name.replace("standard", "colin27") in builtin else montage_name
    montage = mne.channels.make_standard_montage(montage_name)
    info = mne.create_info(montage.ch_names, 100.0, "eeg")
    info.set_montage(montage, verbose="error")
    return {ch["ch_name"]: ch["loc"][:3].copy() for ch in info["chs"]}


def test_ten_twenty_names_in_a_large_cap_are_placed_only_where_their_positions_agree(tmp_path):
    # A 139-channel research cap (EGI HydroCel geometry) whose own scheme reuses C3, F7, A1 for
    # other positions; its channel nearest the real O1 site is labelled O1.
    geodesic = _template("GSN-HydroCel-129")
    sites = _template("standard_1005")
    names = list(geodesic)[:128]
    positions = [geodesic[n] for n in names]
    nearest_o1 = int(np.argmax([p @ sites["O1"] / np.linalg.norm(p) / np.linalg.norm(sites["O1"]) for p in positions]))
    names[nearest_o1] = "O1"
    names[10], names[40], names[90] = "C3", "F7", "A1"
    extra = [f"X{i}" for i in range(11)]
    rng = np.random.default_rng(1)
    path = _file_with_positions(tmp_path, names + extra, positions + [rng.normal(size=3) * 0.01 + [0, 0, 0.09] for _ in extra], "cap139")
    recording = read_recording(path)
    assert recording.electrodes == ["O1"]
    for label in ("C3", "F7", "A1"):
        assert f"labelled {label} but recorded" in recording.not_used[label]
    assert "put C3 F7 A1 away from the sites of those names" in recording.describe()
    assert "confirm 1 label" in recording.describe()


def test_a_large_cap_without_positions_and_without_ten_ten_names_places_nothing(write_edf):
    names = [f"E{i}" for i in range(3, 136)] + ["C3", "F7", "A1", "Cz"]  # 137 EEG channels
    path = write_edf(_eeg(names), name="cap137.edf")
    with pytest.raises(RecordingError, match=r"137-channel cap, only 4 labels are 10-05 names: C3 F7 A1 Cz not placed"):
        read_recording(path)


@pytest.mark.parametrize("suffix", ["_raw.fif", ".set"])
def test_positions_that_agree_with_ten_twenty_confirm_the_labels(tmp_path, suffix):
    sites = _template("standard_1020")
    names = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2"]
    recording = read_recording(_file_with_positions(tmp_path, names, [sites[n] for n in names], "clinical", suffix))
    assert len(recording.electrodes) == 19 and not recording.not_used
    assert "positions in the file confirm 19 labels" in recording.describe()


def test_a_clinical_recording_with_many_extra_inputs_keeps_its_ten_twenty_electrodes(write_edf):
    # An epilepsy-monitoring amplifier: the 19 10-20 electrodes plus 110 numbered inputs.
    ten_twenty = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4", "T6", "O1", "O2"]
    path = write_edf(_eeg([f"EEG {n}-REF" for n in ten_twenty] + [f"EEG {k}-REF" for k in range(20, 130)]), name="emu.edf")
    recording = read_recording(path)
    assert len(recording.electrodes) == 19
    assert "129 channels, 19 of them the 10-20 set: read as a clinical recording with extra inputs" in recording.describe()
