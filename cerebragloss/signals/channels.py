"""Channel names: every vendor spelling mapped to one canonical 10-20 label, and channel types.

Canonical labels follow the ACNS 2006 / modified combinatorial nomenclature (``T7 T8 P7 P8``),
with the usual 10-20 capitalisation (``Fp1``, ``Fz``). The older names ``T3 T4 T5 T6`` (still the
default on many clinical systems, and in TUH and eegmat files) are accepted as aliases. 10-10
electrodes (``FC5``, ``AF3``...) are recognised as EEG too, so a high-density cap is read, but the
clinical montages use only the 10-20 set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

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
# Sleep archives name linked references too: MASS `EEG C3-CLE` (computed linked ears) and
# `C3-LER`, `C3-LM` (linked mastoids), `C3-A1A2` / `C3-(A1+A2)/2` / `C3-M1M2`.
_REFERENCE_SUFFIXES = {"REF", "LE", "RE", "AR", "AV", "AVG", "CAR", "REF1", "LINKED", "CZREF", "CLE", "LER", "LM", "LMR",
                       "A1A2", "M1M2", "A1+A2", "M1+M2"}  # fmt: skip
_LINKED_PAIR = re.compile(r"\(([AM])1\+\1?2\)/2")
# PSG exports glue the ear or mastoid reference on with no separator: `C3A2`, `C4A1`, `O1M2`
# (Compumedics, the CAP sleep database).
_GLUED_REFERENCE = re.compile(r"^([A-Z]{1,3}\d{1,2}|[A-Z]{1,3}Z)([AM][12])$")

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
    (unknown), or ``unplaced`` (see :func:`place_channels`); ``canonical`` is the 10-20/10-10
    label for ``eeg``/``reference`` channels."""

    original: str
    kind: str
    canonical: str | None = None
    #: why a channel is ``unplaced`` (an EEG label that is not put on a 10-20 site without evidence)
    reason: str = field(default="", repr=False, compare=False)


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


def _label_parts(name: str) -> tuple[str, list[str]]:
    """The label upper-cased without vendor decoration, and its parts: ``EEG C3-A2`` ->
    ``("C3-A2", ["C3", "A2"])`` (also ``C3/A2``, ``C3:A2``)."""
    upper = _LINKED_PAIR.sub(r"\g<1>1+\g<1>2", _strip_decoration(name).upper().replace(" ", ""))
    return upper, [p for p in re.split(r"[-/:]", upper) if p]


def classify_channel(name: str, mne_type: str | None = None) -> ChannelInfo:
    """Classify one channel by its recorded name (and MNE's type guess, used only as a tie-breaker).

    >>> classify_channel("EEG FP1-REF")
    ChannelInfo(original='EEG FP1-REF', kind='eeg', canonical='Fp1')
    >>> classify_channel("T3-LE").canonical
    'T7'
    """
    upper, parts = _label_parts(name)
    glued = _GLUED_REFERENCE.match(parts[0]) if len(parts) == 1 else None
    site = _CANONICAL_BY_UPPER.get(glued.group(1)) if glued else None
    if site is not None and site not in REFERENCE_ELECTRODES:
        return ChannelInfo(name, "eeg", site)

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


def homologue(electrode: str) -> str:
    """The electrode at the mirror-image place across the midline (10-10 numbers odd on the left,
    even on the right: Fp1 <-> Fp2, F7 <-> F8, A1 <-> A2); a midline electrode (Cz) is its own."""
    match = re.fullmatch(r"([A-Za-z]+?)(\d+)", electrode)
    if match is None:
        return electrode
    number = int(match.group(2))
    return f"{match.group(1)}{number + 1 if number % 2 else number - 1}"


def canonical_derivation(name: str) -> str | None:
    """``Active-Reference`` in canonical spelling for a bipolar channel between two scalp
    electrodes (``EEG Fpz-Cz`` -> ``Fpz-Cz``, ``FP1-F7`` -> ``Fp1-F7``), else None (ear-to-ear
    and referential channels included)."""
    if classify_channel(name).kind != "bipolar":
        return None
    parts = [_CANONICAL_BY_UPPER.get(p) for p in _label_parts(name)[1]]
    if len(parts) != 2 or None in parts or set(parts) & set(REFERENCE_ELECTRODES):
        return None
    return f"{parts[0]}-{parts[1]}"


def is_derivation(label: str) -> bool:
    """Whether a recording row is a recorded bipolar derivation (:func:`canonical_derivation`'s
    ``Fpz-Cz``) rather than a referential electrode."""
    return "-" in label and canonical_derivation(label) == label


# --- reading labels in the context of the whole cap -------------------------------------------

#: BioSemi's ABC layout names positions by ring letter and number (A1-A32, B1-B32, ... H32). Its
#: C3, F7, A1 are cap positions, not the 10-20 sites of the same name.
_ABC_LABEL = re.compile(r"^([A-H])([1-9]|[12][0-9]|3[0-2])$")
#: This many ABC labels that are no 10-05 name (B17, D5, A12...) identify the layout.
MIN_ABC_LABELS = 8
#: Above this many EEG channels a cap is high density; its 10-20 names are trusted by name only
#: when most of its labels are 10-05 names (a 10-10/10-05 cap), else only with positions.
HIGH_DENSITY_CHANNELS = 64
#: ... unless it holds at least this many of the 19 10-20 names: a clinical recording whose
#: amplifier has unused or numbered inputs beside the full 10-20 set (a research cap that reuses a
#: few 10-20 names for its own positions does not carry the whole set).
MIN_CLINICAL_SET = 16
#: A labelled electrode whose recorded position lies further than this from the template site of
#: its name is not that electrode: neighbouring 10-20 sites are 36 degrees apart (20 % of the
#: nasion-inion arc), real caps on real heads sit within ~10-15 degrees of the template.
MAX_POSITION_ANGLE_DEG = 25.0


@lru_cache(maxsize=1)
def _template_positions() -> dict[str, np.ndarray]:
    """Upper-cased 10-05 names -> template position in MNE head coordinates (metres)."""
    import warnings

    import mne

    for name in ("colin27_1005", "standard_1005"):  # renamed in MNE 1.13; older MNE has the second
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                montage = mne.channels.make_standard_montage(name)
            break
        except ValueError:
            continue
    info = mne.create_info(montage.ch_names, 100.0, "eeg")
    info.set_montage(montage)  # to head coordinates, the frame MNE gives a file's positions in
    return {ch["ch_name"].upper(): np.array(ch["loc"][:3]) for ch in info["chs"]}


def _sphere_centre(points: np.ndarray) -> np.ndarray:
    """Least-squares centre of a sphere through ``points`` ``[n, 3]`` (n >= 4, not coplanar)."""
    design = np.column_stack([2 * points, np.ones(len(points))])
    solution, *_ = np.linalg.lstsq(design, (points**2).sum(axis=1), rcond=None)
    return solution[:3]


def _directions(points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Unit vectors from the centre of the head the points lie on: a fitted sphere's centre, or
    the frame's origin (between the ears in MNE's head frame) when fewer than 8 points, or points
    that do not lie on a sphere (one ring of electrodes), would make the fit meaningless."""
    stacked = np.array(list(points.values()))
    centre = np.zeros(3)
    if len(stacked) >= 8:
        fitted = _sphere_centre(stacked)
        radii = np.linalg.norm(stacked - fitted, axis=1)
        if radii.std() < 0.2 * radii.mean() and np.linalg.norm(fitted) < radii.mean():
            centre = fitted
    return {name: (p - centre) / np.linalg.norm(p - centre) for name, p in points.items()}


def place_channels(
    names: list[str], mne_types: list[str] | None = None, positions: dict[str, np.ndarray] | None = None
) -> tuple[list[ChannelInfo], list[str]]:
    """Classify every channel of one recording, reading each label in the context of its cap.

    A label is put on the 10-20 site of its name unless evidence says otherwise:
    - ``positions`` (recorded name -> position in head coordinates, where the file has them):
      an electrode further than ``MAX_POSITION_ANGLE_DEG`` from the template site of its name
      is not that electrode; one within it is confirmed;
    - a cap labelled in BioSemi's ABC layout (``MIN_ABC_LABELS`` labels such as B17 that are no
      10-05 name): its A1, C3, F7... are ABC positions, not 10-20 sites, unless positions confirm;
    - a cap of more than ``HIGH_DENSITY_CHANNELS`` EEG channels whose labels are mostly not 10-05
      names: its 10-20 names are coincidences of its own scheme unless positions confirm.
    Such channels come back ``unplaced`` with the reason. Returns the channels and the decisions
    in words (for the recording's description); no decision, no words.
    """
    types = mne_types or [None] * len(names)
    infos = [classify_channel(name, kind) for name, kind in zip(names, types, strict=True)]
    labels = [_strip_decoration(name).upper().replace(" ", "") for name in names]
    template = _template_positions() if positions or len(names) > HIGH_DENSITY_CHANNELS else {}
    notes: list[str] = []

    confirmed: set[int] = set()
    if positions:
        candidates = {
            i: positions[name] for i, name in enumerate(names)
            if name in positions and infos[i].canonical and infos[i].canonical.upper() in template
        }  # fmt: skip
        recorded = _directions(positions)
        sites = _directions(template)
        moved = []
        for i in candidates:
            cosine = float(np.clip(recorded[names[i]] @ sites[infos[i].canonical.upper()], -1, 1))
            angle = float(np.degrees(np.arccos(cosine)))
            if angle <= MAX_POSITION_ANGLE_DEG:
                confirmed.add(i)
            else:
                moved.append(names[i])
                infos[i] = ChannelInfo(names[i], "unplaced", None, reason=(
                    f"labelled {infos[i].canonical} but recorded {angle:.0f} degrees from the 10-20/10-10 "
                    f"{infos[i].canonical} site (more than {MAX_POSITION_ANGLE_DEG:g})"
                ))  # fmt: skip
        if confirmed:
            notes.append(f"positions in the file confirm {len(confirmed)} label{'s' if len(confirmed) != 1 else ''} as 10-20/10-10 sites")
        if moved:
            notes.append(f"positions in the file put {' '.join(moved)} away from the sites of those names: not placed")

    def unplace(indices: list[int], reason: str) -> list[str]:
        done = []
        for i in indices:
            if i not in confirmed and infos[i].kind in ("eeg", "reference", "eog", "misc"):
                infos[i] = ChannelInfo(names[i], "unplaced", None, reason=reason)
                done.append(names[i])
        return done

    abc = [i for i, label in enumerate(labels) if _ABC_LABEL.match(label)]
    abc_only = [i for i in abc if labels[i] not in _CANONICAL_BY_UPPER and labels[i] not in template]
    # Two rings at least: EGI's E1-E128 is one letter, and its own (non-10-20) scheme.
    if len(abc_only) >= MIN_ABC_LABELS and len({labels[i][0] for i in abc_only}) >= 2:
        done = unplace(abc, "label of BioSemi's ABC layout (a cap position, not the 10-20 site of that name)")
        rings = sorted({labels[i][0] for i in abc})
        notes.append(
            f"labels follow BioSemi's ABC layout ({len(abc)} channels, {rings[0]}1-{rings[-1]}32): "
            + (f"{len(done)} not placed on 10-20 sites" if len(done) < len(abc) else "none placed on 10-20 sites")
            + (", only where positions confirm the site" if positions else " (no positions in the file to say otherwise)")
        )
    eeg_like = [i for i, info in enumerate(infos) if info.kind in ("eeg", "reference", "misc")]
    if len(eeg_like) > HIGH_DENSITY_CHANNELS:
        named = [i for i in eeg_like if labels[i] in template]
        clinical_set = {infos[i].canonical for i in eeg_like} & set(TEN_TWENTY)
        if len(clinical_set) >= MIN_CLINICAL_SET:
            # A monitoring unit's file: the whole 10-20 set plus unused or numbered inputs.
            notes.append(
                f"{len(eeg_like)} channels, {len(clinical_set)} of them the 10-20 set: "
                "read as a clinical recording with extra inputs"
            )
        elif len(named) < 0.5 * len(eeg_like):
            ten_twenty = [i for i in eeg_like if infos[i].kind in ("eeg", "reference")]
            done = unplace(ten_twenty, f"a {len(eeg_like)}-channel cap whose labels are mostly not 10-05 names: "
                                       "its 10-20 names are not trusted without positions")  # fmt: skip
            if done:
                notes.append(
                    f"{len(eeg_like)}-channel cap, only {len(named)} labels are 10-05 names: "
                    f"{' '.join(done)} not placed on 10-20 sites without positions"
                )
    return infos, notes
