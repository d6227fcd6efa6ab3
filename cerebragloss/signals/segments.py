"""Cutting a recording into 10-second Segments (the DESIGN.md contract) and flagging bad spans.

Bad spans (flat, clipped, non-finite) are found on the recording as read, before resampling and
filtering: a filter turns a clipped plateau into ringing and a NaN run into zeros, after which
neither can be recognised.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from cerebragloss.signals.filters import FilterSettings, prepare
from cerebragloss.signals.io import Recording
from cerebragloss.signals.montage import AUTO, apply_montage

#: Seconds of signal kept on each side of the requested pages when only some pages are wanted.
FILTER_MARGIN_S = 10.0


@dataclass(frozen=True)
class SignalFlag:
    """A span of one electrode that is ``flat``, ``clipped`` or ``nan`` (non-finite), or the
    ``padding`` after the end of a recording on its last, partial page (channel ``*``)."""

    kind: str
    channel: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class FlagSettings:
    """Thresholds for bad-span flags.

    A disconnected electrode reads a constant or one quantisation step, far below the 1 uV
    peak-to-peak that even low-voltage EEG exceeds within half a second. A clipped channel sits at
    its extreme value for consecutive samples, which a real waveform peak (one or two samples at the
    maximum) does not.
    """

    flat_window_s: float = 0.5
    flat_peak_to_peak_uv: float = 1.0
    min_flat_s: float = 1.0
    min_clipped_s: float = 0.02
    min_clipped_samples: int = 3


@dataclass
class Segment:
    """A page's worth of EEG: ``data`` float32 ``[channels, samples]`` in microvolts."""

    data: np.ndarray
    sfreq: float
    channels: list[str]
    montage: str
    recording: str
    subject: str
    start_s: float
    duration_s: float = 10.0
    missing: list[str] = field(default_factory=list)  #: 10-20 electrodes the recording lacks
    flags: list[SignalFlag] = field(default_factory=list)  #: times from the segment start
    filters: str = ""  #: the filter line of the calibration note

    @property
    def key(self) -> str:
        """A stable page id: ``<recording>_<start in ms>``."""
        return f"{self.recording}_{int(round(self.start_s * 1000)):09d}"

    def identity(self) -> dict:
        """Everything but the samples, as plain JSON-able data."""
        return {
            "key": self.key,
            "recording": self.recording,
            "subject": self.subject,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "sfreq": self.sfreq,
            "montage": self.montage,
            "channels": list(self.channels),
            "missing": list(self.missing),
            "filters": self.filters,
            "flags": [asdict(flag) for flag in self.flags],
        }


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start (inclusive) and end (exclusive) indices of the True runs of a 1-D mask."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def find_signal_problems(
    data: np.ndarray, sfreq: float, channels: list[str], settings: FlagSettings | None = None
) -> list[SignalFlag]:
    """Flat, clipped and non-finite spans of ``data`` ``[channels, samples]`` (microvolts)."""
    settings = settings or FlagSettings()
    flags: list[SignalFlag] = []
    window = max(2, int(round(settings.flat_window_s * sfreq)))
    min_clip = max(settings.min_clipped_samples, int(round(settings.min_clipped_s * sfreq)))
    for channel, signal in zip(channels, data, strict=True):
        finite = np.isfinite(signal)
        for start, end in _runs(~finite):
            flags.append(SignalFlag("nan", channel, start / sfreq, end / sfreq))

        n_windows = signal.size // window
        if n_windows:
            blocks = np.where(finite, signal, np.nan)[: n_windows * window].reshape(n_windows, window)
            with warnings.catch_warnings():  # all-NaN windows: flagged as nan above, not flat
                warnings.simplefilter("ignore", RuntimeWarning)
                peak_to_peak = np.nanmax(blocks, axis=1) - np.nanmin(blocks, axis=1)
            flat = peak_to_peak < settings.flat_peak_to_peak_uv  # NaN windows compare False
            for start, end in _runs(flat):
                if (end - start) * window / sfreq >= settings.min_flat_s:
                    flags.append(SignalFlag("flat", channel, start * window / sfreq, end * window / sfreq))

        if finite.any():
            values = signal[finite]
            top, bottom = values.max(), values.min()
            if top - bottom >= settings.flat_peak_to_peak_uv:
                tolerance = 1e-6 * max(abs(top), abs(bottom), 1.0)
                at_rail = finite & ((signal >= top - tolerance) | (signal <= bottom + tolerance))
                for start, end in _runs(at_rail):
                    if end - start >= min_clip:
                        flags.append(SignalFlag("clipped", channel, start / sfreq, end / sfreq))
    return flags


def cut_segments(
    data: np.ndarray,
    sfreq: float,
    *,
    channels: list[str],
    montage: str,
    recording: str,
    subject: str,
    duration_s: float = 10.0,
    stride_s: float | None = None,
    start_s: float = 0.0,
    max_segments: int | None = None,
    partial: bool = False,
    missing: list[str] | None = None,
    flags: list[SignalFlag] | None = None,
    filters: str = "",
) -> Iterator[Segment]:
    """Cut ``data`` into whole pages of ``duration_s`` every ``stride_s`` (default: no overlap).

    A trailing piece shorter than a page is dropped, or with ``partial=True`` returned padded with
    NaN (drawn as blank paper) and flagged ``padding``. ``flags`` are in recording time and are
    clipped to each page and shifted to page time.
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    stride_s = duration_s if stride_s is None else stride_s
    if stride_s <= 0:
        raise ValueError(f"stride_s must be positive, got {stride_s}")
    page_samples = int(round(duration_s * sfreq))
    count = 0
    page_start = start_s
    while max_segments is None or count < max_segments:
        first = int(round(page_start * sfreq))
        if first >= data.shape[1] or (first + page_samples > data.shape[1] and not partial):
            break
        page_data = np.full((data.shape[0], page_samples), np.nan, dtype=np.float32)
        available = min(page_samples, data.shape[1] - first)
        page_data[:, :available] = data[:, first : first + available]
        page_end = page_start + duration_s
        page_flags = [
            SignalFlag(f.kind, f.channel, max(f.start_s, page_start) - page_start, min(f.end_s, page_end) - page_start)
            for f in (flags or [])
            if f.end_s > page_start and f.start_s < page_end
        ]
        if available < page_samples:
            page_flags.append(SignalFlag("padding", "*", available / sfreq, duration_s))
        yield Segment(
            data=page_data,
            sfreq=sfreq,
            channels=list(channels),
            montage=montage,
            recording=recording,
            subject=subject,
            start_s=round(page_start, 6),
            duration_s=duration_s,
            missing=list(missing or []),
            flags=page_flags,
            filters=filters,
        )
        count += 1
        page_start += stride_s


def segments_from_recording(
    recording: Recording,
    montage: str = AUTO,
    *,
    filters: FilterSettings | None = None,
    flag_settings: FlagSettings | None = None,
    duration_s: float = 10.0,
    stride_s: float | None = None,
    start_s: float = 0.0,
    max_segments: int | None = None,
    partial: bool = False,
) -> Iterator[Segment]:
    """Flag, resample, filter, apply ``montage`` and cut a recording into Segments.

    ``montage="auto"`` (the default) draws the best montage the electrodes allow
    (:func:`cerebragloss.signals.montage.choose_montage`); each Segment names the one used.
    """
    filters = filters or FilterSettings()
    flags = find_signal_problems(recording.data, recording.sfreq, recording.electrodes, flag_settings)
    # Asked for a few pages of a long recording: filter only those plus a margin that absorbs the
    # filter's edge transient, not the whole night.
    offset_s = 0.0
    if max_segments is not None:
        stride = duration_s if stride_s is None else stride_s
        offset_s = max(0.0, start_s - FILTER_MARGIN_S)
        end_s = start_s + (max_segments - 1) * stride + duration_s + FILTER_MARGIN_S
        first, last = (int(round(t * recording.sfreq)) for t in (offset_s, end_s))
        recording = replace(recording, data=recording.data[:, first:last])
        offset_s = first / recording.sfreq
    prepared = prepare(recording, filters)
    result = apply_montage(prepared.data, prepared.electrodes, montage)
    shifted_flags = [replace(f, start_s=f.start_s - offset_s, end_s=f.end_s - offset_s) for f in flags]
    for segment in cut_segments(
        result.data,
        prepared.sfreq,
        channels=result.channels,
        montage=result.name,
        recording=recording.recording,
        subject=recording.subject,
        duration_s=duration_s,
        stride_s=stride_s,
        start_s=start_s - offset_s,
        max_segments=max_segments,
        partial=partial,
        missing=result.missing_electrodes,
        flags=shifted_flags,
        filters=filters.describe(source_sfreq=recording.sfreq),
    ):
        segment.start_s = round(segment.start_s + offset_s, 6)
        yield segment
