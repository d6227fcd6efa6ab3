import pytest

from cerebragloss.signals import TEN_TWENTY, canonical_electrode, classify_channel


@pytest.mark.parametrize(
    "recorded, canonical",
    [
        ("EEG FP1-REF", "Fp1"),  # TUH
        ("FP1-LE", "Fp1"),  # linked ears
        ("Fp1.", "Fp1"),  # PhysioNet eegmmidb, trailing dots
        ("C3..", "C3"),
        ("fp1", "Fp1"),
        ("EEG Fp1-Ref", "Fp1"),  # Nihon Kohden EDF export
        ("EEG T3", "T7"),  # old names -> new
        ("T4-REF", "T8"),
        ("EEG T5-LE", "P7"),
        ("t6", "P8"),
        ("T7", "T7"),
        ("EEG CZ-REF", "Cz"),
        ("Fp1-A1", "Fp1"),  # referential to an ear electrode
        ("POL Fz", "Fz"),
        ("Fcz.", "FCz"),  # 10-10
        ("Af7.", "AF7"),
        ("EEG A1-REF", "A1"),
        ("CZ-A1", "Cz"),  # DREAMS
        ("EEG C3-M2", "C3"),  # HMC, AASM
        ("C3:A2", "C3"),  # colon-separated reference
        ("EEG C3-CLE", "C3"),  # MASS: computed linked ears
        ("EEG O1-LER", "O1"),  # MASS: linked ears reference
        ("C4-LM", "C4"),  # linked mastoids
        ("C3-A1A2", "C3"),
        ("C3-(A1+A2)/2", "C3"),
        ("EEG Cz-(M1+M2)/2", "Cz"),
        ("C3A2", "C3"),  # reference glued on (Compumedics, CAP sleep database)
        ("EEG C4A1", "C4"),
        ("CZA1", "Cz"),
        ("O1M2", "O1"),
    ],
)
def test_spellings_map_to_one_canonical_label(recorded, canonical):
    assert classify_channel(recorded).canonical == canonical


@pytest.mark.parametrize(
    "recorded, kind",
    [
        ("ECG ECG", "ecg"),
        ("EKG", "ecg"),
        ("EEG EKG1-REF", "ecg"),
        ("EOG", "eog"),
        ("LOC", "eog"),
        ("EMG", "emg"),
        ("Chin EMG", "emg"),
        ("SaO2 X9", "spo2"),
        ("SpO2", "spo2"),
        ("Trigger", "stim"),
        ("POL DC01", "stim"),
        ("STI 014", "stim"),
        ("EEG A2-A1", "bipolar"),  # ear-to-ear: not a scalp channel
        ("Fp1-F7", "bipolar"),
        ("EEG A1-REF", "reference"),
        ("acc1", "misc"),
        ("A1A2", "misc"),  # ear to ear glued: no scalp electrode
        ("B12", "misc"),  # a BioSemi ABC position, not C1 + A2 or the like
        ("sine 8 Hz", "misc"),
    ],
)
def test_non_eeg_channels_are_kept_apart_by_type(recorded, kind):
    assert classify_channel(recorded).kind == kind


def test_every_ten_twenty_name_is_its_own_canonical_label():
    assert [canonical_electrode(name) for name in TEN_TWENTY] == list(TEN_TWENTY)
    assert canonical_electrode("XYZ") is None
