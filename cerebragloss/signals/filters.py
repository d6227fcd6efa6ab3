"""Resampling and zero-phase filtering of a whole recording (before it is cut into pages).

Filtering the whole recording, not each page, avoids edge transients at every page boundary.
The filters are MNE's zero-phase FIR designs, the same a clinical reviewer's software uses.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from cerebragloss.signals.io import Recording

#: A low-pass edge is kept at or below this share of a recording's own Nyquist frequency, so that
#: the filter (not only the resampler's anti-imaging) sets the band the page claims.
NYQUIST_MARGIN = 0.9


@dataclass(frozen=True)
class FilterSettings:
    """How a recording is prepared before pages are cut.

    Defaults are a routine clinical review setting: 0.5 Hz low-frequency filter (removes DC drift
    but keeps delta), 70 Hz high-frequency filter (keeps spikes sharp), notch off (line noise is an
    artifact the engine reports; set ``notch_hz`` to 50 or 60 to hide it on pages).
    """

    sfreq: float = 200.0  #: working rate in Hz; every page has sfreq * duration samples per channel
    l_freq: float | None = 0.5  #: high-pass edge in Hz (None: off)
    h_freq: float | None = 70.0  #: low-pass edge in Hz (None: off); must be below sfreq / 2
    notch_hz: float | None = None  #: mains frequency to notch, with its harmonics below Nyquist

    def __post_init__(self) -> None:
        problems = []
        if self.sfreq <= 0:
            problems.append(f"sfreq={self.sfreq} must be positive")
        if self.h_freq is not None and self.h_freq >= self.sfreq / 2:
            problems.append(f"h_freq={self.h_freq} must be below Nyquist ({self.sfreq / 2} Hz at sfreq={self.sfreq})")
        if self.l_freq is not None and self.l_freq <= 0:
            problems.append(f"l_freq={self.l_freq} must be positive (or None to switch it off)")
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            problems.append(f"l_freq={self.l_freq} must be below h_freq={self.h_freq}")
        if self.notch_hz is not None and not 0 < self.notch_hz < self.sfreq / 2:
            problems.append(f"notch_hz={self.notch_hz} must be between 0 and Nyquist ({self.sfreq / 2} Hz)")
        if problems:
            raise ValueError("FilterSettings: " + "; ".join(problems))

    def for_source(self, source_sfreq: float) -> FilterSettings:
        """The filters that can truly be applied to a recording sampled at ``source_sfreq``.

        Resampling a 50 Hz recording to the 200 Hz working rate makes room for a 70 Hz low-pass,
        but the recording holds nothing above its own Nyquist (25 Hz): such a low-pass edge
        would be a false claim on the page. The edge is lowered to ``NYQUIST_MARGIN`` of the
        source's Nyquist, so that the filter really acts there, and a notch at or above it is
        switched off.
        """
        nyquist = source_sfreq / 2
        if nyquist >= self.sfreq / 2:
            return self
        h_freq = self.h_freq
        if h_freq is not None and h_freq > NYQUIST_MARGIN * nyquist:
            h_freq = round(NYQUIST_MARGIN * nyquist, 1)
        notch_hz = self.notch_hz if self.notch_hz is not None and self.notch_hz < nyquist else None
        if h_freq is not None and self.l_freq is not None and self.l_freq >= h_freq:
            raise ValueError(
                f"a recording sampled at {source_sfreq:g} Hz (Nyquist {nyquist:g} Hz) leaves no band above "
                f"the {self.l_freq:g} Hz low-frequency filter"
            )
        return replace(self, h_freq=h_freq, notch_hz=notch_hz)

    def describe(self, source_sfreq: float | None = None) -> str:
        """The filter line of a page's calibration note, e.g. ``LFF 0.5 Hz HFF 70 Hz notch off``.

        With ``source_sfreq`` it describes what :meth:`for_source` applies to such a recording,
        and says which setting was lowered below the recording's Nyquist frequency.
        """
        applied = self if source_sfreq is None else self.for_source(source_sfreq)
        low = f"LFF {applied.l_freq:g} Hz" if applied.l_freq else "LFF off"
        high = f"HFF {applied.h_freq:g} Hz" if applied.h_freq else "HFF off"
        notch = f"notch {applied.notch_hz:g} Hz" if applied.notch_hz else "notch off"
        if source_sfreq is not None:
            nyquist = f"Nyquist {source_sfreq / 2:g} Hz of {source_sfreq:g} Hz data"
            if applied.h_freq != self.h_freq:
                high += f" ({self.h_freq:g} Hz > {nyquist})"
            if applied.notch_hz != self.notch_hz:
                notch += f" ({self.notch_hz:g} Hz >= {nyquist})"
        return f"{low} {high} {notch}"


def resample(data: np.ndarray, sfreq: float, target: float) -> np.ndarray:
    """Resample ``[channels, samples]`` from ``sfreq`` to ``target`` with MNE's FFT resampler."""
    if sfreq == target or data.shape[-1] == 0:
        return data
    import mne

    ratio = Fraction(target / sfreq).limit_denominator(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mne.filter.resample(
            data, up=float(ratio.numerator), down=float(ratio.denominator), axis=-1, verbose="error"
        )


def filter_signals(data: np.ndarray, sfreq: float, settings: FilterSettings) -> np.ndarray:
    """Zero-phase band-pass and optional notch of ``[channels, samples]`` microvolts at ``sfreq``.

    Non-finite samples are zeroed first (they are flagged before this step); a filter would spread
    one NaN over its whole length.
    """
    import mne

    data = np.nan_to_num(np.asarray(data, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if data.shape[0] == 0 or data.shape[1] < 2:
        return data
    with warnings.catch_warnings():
        # Short recordings get "filter_length is longer than the signal": MNE pads, which is fine.
        warnings.simplefilter("ignore")
        if settings.l_freq or settings.h_freq:
            data = mne.filter.filter_data(
                data, sfreq, settings.l_freq, settings.h_freq, phase="zero", verbose="error"
            )
        if settings.notch_hz:
            harmonics = np.arange(settings.notch_hz, sfreq / 2, settings.notch_hz)
            data = mne.filter.notch_filter(data, sfreq, harmonics, phase="zero", verbose="error")
    return data


def prepare(recording: Recording, settings: FilterSettings) -> Recording:
    """The recording resampled to ``settings.sfreq`` and filtered (aux channels are left as
    recorded); a low-pass or notch above the recording's own Nyquist is lowered or dropped
    (:meth:`FilterSettings.for_source`)."""
    data = recording.data
    if data.shape[0]:
        data = resample(np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0), recording.sfreq, settings.sfreq)
        data = filter_signals(data, settings.sfreq, settings.for_source(recording.sfreq))
    else:
        n_samples = int(round(recording.data.shape[1] * settings.sfreq / recording.sfreq))
        data = np.zeros((0, n_samples))
    return replace(recording, data=data, sfreq=settings.sfreq)
