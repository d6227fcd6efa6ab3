"""Channel names: every vendor spelling mapped to one canonical 10-20 label, and channel types.

Canonical labels follow the ACNS 2006 / modified combinatorial nomenclature (``T7 T8 P7 P8``),
with the usual 10-20 capitalisation (``Fp1``, ``Fz``). The older names ``T3 T4 T5 T6`` (still the
default on many clinical systems, and in TUH and eegmat files) are accepted as aliases. 10-10
electrodes (``FC5``, ``AF3``...) are recognised as EEG too, so a high-density cap is read, but the
clinical montages use only the 10-20 set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The 19 scalp electrodes of the 10-20 system in clinical display order (front to back, left to right).
TEN_TWENTY: tuple[str, ...] = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8",
    "T7", "C3", "Cz", "C4", "T8",
    "P7", "P3", "Pz", "P4", "P8",
    "O1", "O2",
)  # fmt: skip

#: Ear and mastoid electrodes: recorded as references, never shown as scalp channels.
REFERENCE_ELECTRODES: tuple[str, ...] = ("A1", "A2", "M1", "M2")

#: Old 10-20 names (left) and their modern equivalents.
OLD_TO_NEW: dict[str, str] = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}

# The 10-10 positions beyond 10-20 (Oostenveld & Praamstra 2001), upper-case; used only to tell an
# EEG electrode from an unknown channel, and to give it a canonical spelling.
_TEN_TEN_EXTRA = (
    "FPZ AF9 AF7 AF5 AF3 AF1 AFZ AF2 AF4 AF6 AF8 AF10 F9 F5 F1 F2 F6 F10 FT9 FT7 FC5 FC3 FC1 FCZ "
    "FC2 FC4 FC6 FT8 FT10 T9 C5 C1 C2 C6 T10 TP9 TP7 CP5 CP3 CP1 CPZ CP2 CP4 CP6 TP8 TP10 P9 P5 "
    "P1 P2 P6 P10 PO9 PO7 PO5 PO3 PO1 POZ PO2 PO4 PO6 PO8 PO10 O9 OZ O10 I1 IZ I2"
).split()

# Tokens that vendors put before or after the electrode name to say "this is EEG, against the
# recording reference": `EEG FP1-REF` (TUH), `FP1-LE` (linked ears), `Fp1-AVG`, `POL Fp1`.
_PREFIXES = ("EEG", "POL", "EEG1", "EEG2")
_REFERENCE_SUFFIXES = {"REF", "LE", "RE", "AR", "AV", "AVG", "CAR", "REF1", "LINKED", "CZREF"}

# Non-EEG channel types by name fragment. Checked on the upper-cased, prefix-free name.
_TYPE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ecg", re.compile(r"\b(ECG|EKG)|^X?ECG|^EKG")),
    ("eog", re.compile(r"EOG|^LOC$|^ROC$|^E[12]$|^HEOG|^VEOG")),
    ("emg", re.compile(r"EMG|CHIN|^LEG|^LAT$|^RAT$")),
    ("spo2", re.compile(r"SPO2|SAO2|^SP02|OXIM|PLETH|^PULSE|^HR$")),
    ("resp", re.compile(r"RESP|THOR|ABDO|AIRFLOW|^FLOW|NASAL|SNORE|CHEST")),
    ("stim", re.compile(r"^STI|STATUS|TRIG|^EVENT|^MARK|^DC\d*$|PHOTIC|^IBI$|^BURSTS$|^SUPPR$")),
)

_CANONICAL_BY_UPPER: dict[str, str] = {name.upper(): name for name in TEN_TWENTY}
_CANONICAL_BY_UPPER.update({old: new for old, new in OLD_TO_NEW.items()})
_CANONICAL_BY_UPPER.update({name: name for name in REFERENCE_ELECTRODES})


def _ten_ten_spelling(upper: str) -> str:
    # 10-10 labels are written with a lower-case z and p (FCz, Fpz) and upper-case letters otherwise.
    return upper.replace("Z", "z").replace("FP", "Fp")


_CANONICAL_BY_UPPER.update({name: _ten_ten_spelling(name) for name in _TEN_TEN_EXTRA})


@dataclass(frozen=True)
class ChannelInfo:
    """What one recorded channel is: ``kind`` is ``eeg`` (a scalp electrode against the recording
    reference), ``reference`` (A1/A2/M1/M2), ``bipolar`` (recorded between two scalp electrodes,
    cannot be re-referenced), ``ecg``, ``eog``, ``emg``, ``spo2``, ``resp``, ``stim`` or ``misc``
    (unknown); ``canonical`` is the 10-20/10-10 label for ``eeg``/``reference`` channels."""

    original: str
    kind: str
    canonical: str | None = None


def _strip_decoration(name: str) -> str:
    cleaned = name.strip().rstrip(".").strip()
    cleaned = re.sub(r"\s+", " ", cleaned)
    upper = cleaned.upper()
    for prefix in _PREFIXES:
        if upper.startswith(prefix + " ") or upper.startswith(prefix + "-"):
            return cleaned[len(prefix) + 1 :].strip().rstrip(".")
    return cleaned


def canonical_electrode(name: str) -> str | None:
    """The canonical label of a single electrode name (``fp1`` -> ``Fp1``, ``T3`` -> ``T7``), or None."""
    return _CANONICAL_BY_UPPER.get(_strip_decoration(name).upper().replace(" ", ""))


def classify_channel(name: str, mne_type: str | None = None) -> ChannelInfo:
    """Classify one channel by its recorded name (and MNE's type guess, used only as a tie-breaker).

    >>> classify_channel("EEG FP1-REF")
    ChannelInfo(original='EEG FP1-REF', kind='eeg', canonical='Fp1')
    >>> classify_channel("T3-LE").canonical
    'T7'
    """
    core = _strip_decoration(name)
    upper = core.upper().replace(" ", "")
    parts = [p for p in re.split(r"[-/]", upper) if p]

    if len(parts) == 1 or (len(parts) == 2 and parts[1] in _REFERENCE_SUFFIXES):
        canonical = _CANONICAL_BY_UPPER.get(parts[0]) if parts else None
        if canonical is not None:
            kind = "reference" if canonical in REFERENCE_ELECTRODES else "eeg"
            return ChannelInfo(name, kind, canonical)
    elif len(parts) == 2:
        first, second = (_CANONICAL_BY_UPPER.get(p) for p in parts)
        if first is not None and second is not None:
            if second in REFERENCE_ELECTRODES and first not in REFERENCE_ELECTRODES:
                # `Fp1-A1`: referential to an ear electrode.
                return ChannelInfo(name, "eeg", first)
            return ChannelInfo(name, "bipolar", None)

    for kind, pattern in _TYPE_PATTERNS:
        if pattern.search(upper):
            return ChannelInfo(name, kind, None)
    if mne_type in {"ecg", "eog", "emg", "stim", "resp"}:
        return ChannelInfo(name, mne_type, None)
    return ChannelInfo(name, "misc", None)
