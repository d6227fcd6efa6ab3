"""Reading clinical EEG files through MNE into a :class:`Recording` with canonical channel names.

Formats: EDF/EDF+, BDF, FIF, EEGLAB ``.set``, BrainVision ``.vhdr`` and Nihon Kohden ``.EEG``.
Every failure is a :class:`RecordingError` that names the file and the problem, so a run over an
archive can report it and go on with the next file.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cerebragloss.signals.channels import TEN_TWENTY, canonical_derivation, place_channels


class RecordingError(Exception):
    """A recording could not be read or used. ``str(error)`` starts with the file's path."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class Annotation:
    """One annotation of the recording (EDF+ TAL, BDF annotation channel, Nihon Kohden log...)."""

    onset_s: float
    duration_s: float
    description: str


@dataclass
class AuxChannel:
    """A channel that is not an electrode row (ECG, EOG, EMG, SpO2, respiration, stim, misc, or
    ``unplaced``: EEG whose label cannot be put on a 10-20 site), kept apart from the EEG."""

    name: str
    kind: str
    data: np.ndarray  # [samples], in the channel's physical unit as MNE reports it (V for biosignals)


@dataclass
class Recording:
    """A recording with its EEG electrodes under canonical 10-20/10-10 names.

    ``data`` is float64 ``[electrodes, samples]`` in microvolts against the recording's own
    reference, rows in the order of ``electrodes``.
    """

    path: str
    recording: str
    subject: str
    sfreq: float
    data: np.ndarray
    electrodes: list[str]
    aux: list[AuxChannel] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    #: recorded name -> canonical name (EEG and reference electrodes only)
    channel_map: dict[str, str] = field(default_factory=dict)
    #: recorded name -> why it is not an electrode row (bipolar, duplicate, unknown, dropped...)
    not_used: dict[str, str] = field(default_factory=dict)
    #: decisions about the channels in words (a cap layout not read as 10-20, positions...)
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.data.shape[1] / self.sfreq

    @property
    def missing(self) -> list[str]:
        """The 10-20 scalp electrodes this recording does not have."""
        present = set(self.electrodes)
        return [name for name in TEN_TWENTY if name not in present]

    def describe(self) -> str:
        present = [name for name in TEN_TWENTY if name in self.electrodes]
        return (
            f"{self.recording}: {self.duration_s:.1f} s at {self.sfreq:g} Hz, "
            f"{len(present)}/19 10-20 electrodes"
            + (f" (missing {' '.join(self.missing)})" if self.missing else "")
            + (f", {len(self.electrodes) - len(present)} other EEG" if len(self.electrodes) > len(present) else "")
            + (f", aux {' '.join(f'{a.name}:{a.kind}' for a in self.aux)}" if self.aux else "")
            + f", {len(self.annotations)} annotations"
            + "".join(f"; {note}" for note in self.notes)
        )


# Extension -> MNE reader name. `.eeg` is both Nihon Kohden and a BrainVision data file; the
# BrainVision case is recognised by its `.vhdr` header beside it.
SUPPORTED_EXTENSIONS = {
    ".edf": "edf",
    ".rec": "edf",
    ".bdf": "bdf",
    ".fif": "fif",
    ".fif.gz": "fif",
    ".set": "eeglab",
    ".vhdr": "brainvision",
    ".eeg": "nihon",
}


def _extension(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".fif.gz"):
        return ".fif.gz"
    return path.suffix.lower()


def check_edf_header(path: Path) -> None:
    """Check an EDF/BDF file's size against what its header declares.

    MNE reads a truncated or LF->CRLF-corrupted EDF without complaint and returns shifted,
    garbage samples, so these checks run first and turn such files into clear errors.
    """
    size = path.stat().st_size
    if size == 0:
        raise RecordingError(path, "file is empty (0 bytes)")
    if size < 256:
        raise RecordingError(path, f"file is {size} bytes, shorter than the 256-byte EDF/BDF header")
    with path.open("rb") as handle:
        fixed = handle.read(256)
        try:
            header_bytes = int(fixed[184:192].decode("ascii").strip())
            n_records = int(fixed[236:244].decode("ascii").strip())
            n_signals = int(fixed[252:256].decode("ascii").strip())
        except ValueError as error:
            raise RecordingError(path, f"header is not valid EDF/BDF ({error})") from None
        if n_signals <= 0 or header_bytes != 256 * (n_signals + 1):
            raise RecordingError(
                path,
                f"header is not valid EDF/BDF: {n_signals} signals but a {header_bytes}-byte header "
                f"(expected {256 * (n_signals + 1)})",
            )
        handle.seek(256 + n_signals * 216)
        try:
            samples_per_record = [
                int(handle.read(8).decode("ascii").strip()) for _ in range(n_signals)
            ]
        except ValueError as error:
            raise RecordingError(path, f"header is not valid EDF/BDF: samples per record ({error})") from None
    if n_records < 0:  # -1: length unknown (recording still open when written); MNE infers it
        return
    bytes_per_sample = 3 if fixed[0:1] == b"\xff" else 2
    record_bytes = sum(samples_per_record) * bytes_per_sample
    expected = header_bytes + n_records * record_bytes
    if size < expected:
        complete = (size - header_bytes) // record_bytes if record_bytes else 0
        raise RecordingError(
            path,
            f"file is truncated: its header declares {n_records} data records ({expected} bytes) "
            f"but the file holds {size} bytes ({complete} complete records)",
        )
    if size > expected:
        extra = size - expected
        with path.open("rb") as handle:
            crlf = handle.read().count(b"\r\n")
        if crlf >= extra:
            raise RecordingError(
                path,
                f"file is {extra} bytes longer than its header declares and holds {crlf} CR LF pairs: "
                "it was corrupted by a text-mode LF->CRLF conversion; copy the original in binary mode",
            )
        raise RecordingError(
            path, f"file is {extra} bytes longer than its header declares ({expected} bytes)"
        )


def _read_raw(path: Path, kind: str):
    import mne

    readers = {
        "edf": mne.io.read_raw_edf,
        "bdf": mne.io.read_raw_bdf,
        "fif": mne.io.read_raw_fif,
        "eeglab": mne.io.read_raw_eeglab,
        "brainvision": mne.io.read_raw_brainvision,
        "nihon": mne.io.read_raw_nihon,
    }
    with warnings.catch_warnings():
        # MNE warns about things we report ourselves (unknown channel types, annotation channels).
        warnings.simplefilter("ignore")
        return readers[kind](path, preload=True, verbose="error")


def default_subject(recording_id: str) -> str:
    """Subject id from a recording id: the part before the first underscore.

    ``Subject00_1`` -> ``Subject00``; TUH ``aaaaaaav_s001_t000`` -> ``aaaaaaav``. The EDF patient
    field is deliberately not used: it may hold a hospital identifier, and subject ids end up in
    shards and manifests.
    """
    return recording_id.split("_", 1)[0]


def read_recording(
    path: str | Path,
    *,
    subject_pattern: str | None = None,
    on_bad_channel: str = "raise",
) -> Recording:
    """Read one EEG file and map its channels to canonical names.

    Args:
        path: the recording (see ``SUPPORTED_EXTENSIONS``).
        subject_pattern: a regular expression with one group, applied to the file name's stem, that
            gives the subject id (default: :func:`default_subject`).
        on_bad_channel: ``raise`` (default) stops at an electrode that is entirely NaN or
            non-finite; ``drop`` removes it and lists it in ``Recording.not_used``.
    """
    path = Path(path)
    if on_bad_channel not in ("raise", "drop"):
        raise ValueError(f"on_bad_channel must be 'raise' or 'drop', not {on_bad_channel!r}")
    if not path.exists():
        raise RecordingError(path, "file does not exist")
    extension = _extension(path)
    kind = SUPPORTED_EXTENSIONS.get(extension)
    if kind is None:
        raise RecordingError(
            path,
            f"unknown extension {extension or '(none)'!r}; supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))}",
        )
    if path.stat().st_size == 0:
        raise RecordingError(path, "file is empty (0 bytes)")
    if kind == "nihon" and path.with_suffix(".vhdr").exists():
        kind = "brainvision"
        path_to_read = path.with_suffix(".vhdr")
    else:
        path_to_read = path
    if kind in ("edf", "bdf"):
        check_edf_header(path)
    try:
        raw = _read_raw(path_to_read, kind)
    except RecordingError:
        raise
    except Exception as error:  # MNE raises many types; the message is what the user needs
        raise RecordingError(path, f"could not be read as {kind}: {type(error).__name__}: {error}") from None

    recording_id = path.name[: -len(extension)] if extension else path.name
    if subject_pattern:
        match = re.search(subject_pattern, recording_id)
        if not match:
            raise RecordingError(path, f"subject_pattern {subject_pattern!r} does not match {recording_id!r}")
        subject = match.group(1)
    else:
        subject = default_subject(recording_id)

    recording = _recording_from_raw(raw, path, recording_id, subject, on_bad_channel)
    if kind == "brainvision":
        # MNE names BrainVision markers "<type>/<text>"; free-text markers are of type Comment.
        recording.annotations = [
            Annotation(a.onset_s, a.duration_s, a.description.removeprefix("Comment/"))
            for a in recording.annotations
        ]
    return recording


def _positions(raw) -> dict[str, np.ndarray]:
    """Recorded name -> electrode position (head coordinates) for the EEG channels that have one."""
    found = {}
    for channel in raw.info["chs"]:
        location = np.asarray(channel["loc"][:3], dtype=np.float64)
        if np.isfinite(location).all() and np.linalg.norm(location) > 1e-6:
            found[channel["ch_name"]] = location
    return found


def _recording_from_raw(raw, path: Path, recording_id: str, subject: str, on_bad_channel: str) -> Recording:
    sfreq = float(raw.info["sfreq"])
    if not raw.ch_names:  # an EDF+ of annotations only: MNE's get_data() would fail with "picks ... no channels"
        shown = "; ".join(sorted({str(d) for d in raw.annotations.description})[:3])
        raise RecordingError(
            path,
            f"this file holds no EEG signal: no signal channel at all, only {len(raw.annotations)} annotations"
            + (f" ({shown} ...)" if shown else "")
            + "; a hypnogram or event file? Read the recording it belongs to",
        )
    if raw.n_times == 0:
        raise RecordingError(path, "recording holds no samples")
    types = raw.get_channel_types()
    all_data = raw.get_data()  # volts for EEG-like channels

    rows: list[np.ndarray] = []
    electrodes: list[str] = []
    channel_map: dict[str, str] = {}
    not_used: dict[str, str] = {}
    aux: list[AuxChannel] = []
    bipolar: list[tuple[int, str]] = []
    infos, notes = place_channels(list(raw.ch_names), types, _positions(raw))
    for index, (name, info) in enumerate(zip(raw.ch_names, infos, strict=True)):
        if info.kind in ("eeg", "reference"):
            if info.canonical in electrodes:
                not_used[name] = f"duplicate of {info.canonical}"
                continue
            signal = all_data[index] * 1e6
            if not np.isfinite(signal).any():
                problem = f"channel {name!r} ({info.canonical}) holds no finite sample (all NaN/inf)"
                if on_bad_channel == "raise":
                    raise RecordingError(path, problem + "; read with on_bad_channel='drop' to skip it")
                not_used[name] = "all samples NaN/inf"
                continue
            rows.append(signal)
            electrodes.append(info.canonical)
            channel_map[name] = info.canonical
        elif info.kind == "bipolar":
            not_used[name] = "bipolar derivation (cannot be re-referenced)"
            bipolar.append((index, name))
        else:
            aux.append(AuxChannel(name=name, kind=info.kind, data=all_data[index]))
            if info.kind == "misc":
                not_used[name] = "unknown channel name (kept as misc aux)"
            elif info.kind == "unplaced":
                not_used[name] = info.reason + " (kept as unplaced aux)"

    if not electrodes:
        # Only bipolar derivations (a sleep study's Fpz-Cz and Pz-Oz, a clinical export of the
        # double banana): their rows are the recording, drawn as recorded; no other montage can
        # be built from them.
        for index, name in bipolar:
            label = canonical_derivation(name)
            if label is None or label in electrodes:
                continue
            rows.append(all_data[index] * 1e6)
            electrodes.append(label)
            channel_map[name] = label
            del not_used[name]
        if electrodes:
            notes.append(f"only bipolar derivations ({' '.join(electrodes)}): drawn as recorded, no other montage can be built")
    if not electrodes:
        kinds: dict[str, list[str]] = {}
        for name, info in zip(raw.ch_names, infos, strict=True):
            kinds.setdefault(info.kind, []).append(name)
        listing = "; ".join(
            f"{kind}: {' '.join(names[:6])}{' ...' if len(names) > 6 else ''}" for kind, names in kinds.items()
        )
        problem = (
            f"no channel could be placed on a 10-20/10-10 site ({'; '.join(notes)})" if "unplaced" in kinds
            else f"this file holds no EEG signal: none of its {len(raw.ch_names)} channels is named as a 10-20/10-10 electrode"
        )  # fmt: skip
        raise RecordingError(path, f"{problem} [{listing}]")
    data = np.vstack(rows) if rows else np.zeros((0, raw.n_times))
    annotations = [
        Annotation(float(a["onset"]), float(a["duration"]), str(a["description"]))
        for a in raw.annotations
    ]
    return Recording(
        path=str(path),
        recording=recording_id,
        subject=subject,
        sfreq=sfreq,
        data=data,
        electrodes=electrodes,
        aux=aux,
        annotations=annotations,
        channel_map=channel_map,
        not_used=not_used,
        notes=notes,
    )



def expand_inputs(inputs: list[str | Path]) -> tuple[list[Path], list[str]]:
    """Files, folders (searched recursively) and glob patterns -> recording files, sorted, unique.

    Returns the files and a list of problems (an input that matched nothing). Inside folders, a
    ``.eeg`` next to a ``.vhdr`` is BrainVision data, not a recording of its own, so only the
    ``.vhdr`` is listed.
    """
    import glob

    found: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        item_path = Path(item)
        if item_path.is_dir():
            candidates = sorted(p for p in item_path.rglob("*") if p.is_file() and _extension(p) in SUPPORTED_EXTENSIONS)
            candidates = [p for p in candidates if not (_extension(p) == ".eeg" and p.with_suffix(".vhdr").exists())]
            if not candidates:
                problems.append(f"{item}: folder holds no recording ({', '.join(sorted(SUPPORTED_EXTENSIONS))})")
            found.extend(candidates)
        elif item_path.exists():
            found.append(item_path)
        else:
            matches = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not matches:
                problems.append(f"{item}: no such file, folder or matching pattern")
            found.extend(matches)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, problems
