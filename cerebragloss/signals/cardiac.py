"""The heartbeat in EEG: found on the EEG itself and taken out by template subtraction.

An electrode referenced to an ear or mastoid (the C3-A2 / Cz-A1 of sleep recordings) picks up
the ECG: a QRS complex of 5-50 uV once a second, sharp, with energy at 10-30 Hz - the spindle
band. Played into real sleep EEG (``spinky_c3_test``), 15 uV of ECG took the engine's spindle F1
from 0.77 to 0.65 and 60 uV to 0.32: each QRS rings in the sigma filter and raises the moving-RMS
statistics the spindle threshold is relative to (``python tools/score_engine.py --real
../shared/data/eeg --sleep-stress`` plays it).

The beats are timed on the recording's ECG channel where it has one that beats, else on the
EEG itself by its regularity (sleep excerpts often carry one EEG channel only): the QRS band's
(:data:`QRS_BAND_HZ`) envelope repeats at the heart's period, which its autocorrelation finds;
the beats are the envelope peaks one period apart, aligned on the median QRS. The cardiac
waveform of each channel is the median of the signal around its beats (EEG, not locked to the
heart, averages away), subtracted at every beat - the average artifact subtraction that EEG-fMRI
and EEG-ECG work has used since Allen et al. 1998 (NeuroImage 8:229). A channel whose template
is not clearly above the same median taken at random moments of the cycle is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

#: heart rates looked for (beats per minute): sleep and rest, bradycardia to tachycardia
HEART_RATE_BPM = (40.0, 150.0)
#: the QRS envelope's band (Hz), capped below Nyquist
#: (10-40 Hz took in the sigma band's spindles: their bursts made the envelope of real sleep EEG
#: look regular and hid 15 uV of ECG)
QRS_BAND_HZ = (15.0, 40.0)
#: the envelope is smoothed over this long, wider than a QRS: beat-to-beat variation of the heart's
#: period (tens of ms) would otherwise blur the envelope's autocorrelation peak
SMOOTH_S = 0.1


@dataclass(frozen=True)
class Heartbeat:
    """Beats found in a signal: sample indices of the QRS peaks and the median period (s)."""

    beats: np.ndarray
    period_s: float
    #: the autocorrelation of the QRS envelope at the period less that at half the period: how
    #: clearly the signal beats
    regularity: float


def _qrs_band(signal: np.ndarray, sfreq: float) -> np.ndarray:
    high = min(QRS_BAND_HZ[1], 0.45 * sfreq)
    return sosfiltfilt(butter(3, (QRS_BAND_HZ[0], high), btype="band", fs=sfreq, output="sos"), signal)


def _envelope(band: np.ndarray, sfreq: float) -> np.ndarray:
    width = max(1, int(round(SMOOTH_S * sfreq)))
    return np.convolve(band**2, np.ones(width) / width, mode="same")


def _aligned(band: np.ndarray, beats: np.ndarray, sfreq: float, rounds: int = 2) -> np.ndarray:
    """``beats`` moved (within 40 ms) to where the QRS best matches the median QRS: envelope
    peaks wander by a few samples, and a template averaged over misaligned beats is smeared."""
    half, shift = int(round(0.06 * sfreq)), int(round(0.04 * sfreq))
    beats = beats[(beats - half - shift >= 0) & (beats + half + shift < len(band))]
    for _ in range(rounds):
        template = np.median(np.stack([band[b - half : b + half + 1] for b in beats]), axis=0)
        offsets = np.arange(-shift, shift + 1)
        scores = np.stack([np.stack([band[b + o - half : b + o + half + 1] for o in offsets]) @ template for b in beats])
        beats = beats + offsets[np.argmax(scores, axis=1)]
    return np.unique(beats)


def find_heartbeat(signal: np.ndarray, sfreq: float, min_regularity: float = 0.25, min_beats: int = 30) -> Heartbeat | None:
    """The heartbeat in one channel (uV), or None when the signal does not beat clearly: its
    QRS envelope's autocorrelation at some period within :data:`HEART_RATE_BPM` under
    ``min_regularity``, or fewer than ``min_beats`` beats that keep the period with both neighbours."""
    if len(signal) < 10 * sfreq or QRS_BAND_HZ[0] >= 0.45 * sfreq:
        return None
    band = _qrs_band(np.asarray(signal, dtype=np.float64), sfreq)
    envelope = _envelope(band, sfreq)
    # clip the envelope so that a few big artifacts do not make the autocorrelation theirs
    envelope = np.minimum(envelope, np.percentile(envelope, 99.5))
    centred = envelope - envelope.mean()
    size = 1 << int(np.ceil(np.log2(2 * len(centred))))
    spectrum = np.fft.rfft(centred, size)
    autocorrelation = np.fft.irfft(spectrum * np.conj(spectrum), size)[: len(centred)]
    if autocorrelation[0] <= 0:  # a flat channel
        return None
    autocorrelation /= autocorrelation[0]
    shortest, longest = (int(round(60.0 / bpm * sfreq)) for bpm in HEART_RATE_BPM[::-1])
    lag = shortest + int(np.argmax(autocorrelation[shortest : longest + 1]))
    # a beat is a peak of the autocorrelation at its period over its value half a period away: an
    # envelope that merely varies slowly (spindle trains, muscle) correlates at both
    regularity = float(autocorrelation[lag] - autocorrelation[lag // 2])
    if regularity < min_regularity:
        return None
    peaks, _ = find_peaks(envelope, distance=max(1, int(0.6 * lag)))
    intervals = np.diff(peaks)
    keeps = np.abs(intervals - lag) <= 0.2 * lag  # [i]: peaks i and i+1 are one period apart
    regular = np.zeros(len(peaks), dtype=bool)
    regular[1:-1] = keeps[:-1] & keeps[1:]
    if regular.sum() < max(min_beats, 3):
        return None
    beats = _aligned(band, peaks[regular], sfreq)
    return Heartbeat(beats=beats, period_s=float(np.median(np.diff(beats))) / sfreq, regularity=round(regularity, 3))


def _stack(signal: np.ndarray, centres: np.ndarray, before: int, after: int) -> np.ndarray:
    inside = centres[(centres - before >= 0) & (centres + after <= len(signal))]
    return np.stack([signal[c - before : c + after] for c in inside]) if len(inside) else np.zeros((0, before + after))


def subtract_heartbeat(data: np.ndarray, sfreq: float, heartbeat: Heartbeat, min_contrast: float = 3.0,
                       timed_apart: bool = False) -> tuple[np.ndarray, list[int]]:  # fmt: skip
    """``(data without the heartbeat, rows cleaned)``: per row of ``data`` ``[channels, samples]``,
    the median waveform over one period around each beat (from 35 % of a period before the QRS,
    for the P wave, to 65 % after, for the T wave) subtracted at every beat, where its
    peak-to-peak is at least ``min_contrast`` times that of the same median taken at a random
    moment of each cycle (EEG alone). ``timed_apart``: the beats were timed on another signal (an
    ECG channel), so the medians are compared in the QRS band (120 ms around the beats), where a
    few uV of QRS stand out of the EEG; beats timed on the EEG itself were aligned on its QRS band,
    whose median there is partly the alignment's own making, so the raw signal decides."""
    period = int(round(heartbeat.period_s * sfreq))
    before, after = int(round(0.35 * period)), period - int(round(0.35 * period))
    half = int(round(0.06 * sfreq))
    cleaned = np.array(data, dtype=np.float64, copy=True)
    # the same median at a random moment of each cycle: EEG alone (a fixed shift of half a period
    # would read the same cycle, turned round)
    off_beat = heartbeat.beats + np.random.default_rng(0).integers(period // 4, 3 * period // 4, len(heartbeat.beats))
    rows = []
    for row in range(cleaned.shape[0]):
        template = np.median(_stack(cleaned[row], heartbeat.beats, before, after), axis=0)
        if timed_apart:
            band = _qrs_band(cleaned[row], sfreq)
            shown, null = (np.median(_stack(band, centres, half, half + 1), axis=0) for centres in (heartbeat.beats, off_beat))
        else:
            shown, null = template, np.median(_stack(cleaned[row], off_beat, before, after), axis=0)
        if template.size == 0 or np.ptp(shown) < min_contrast * max(np.ptp(null), 1e-9):
            continue
        template = template - np.linspace(template[0], template[-1], len(template))  # no step at the edges
        for centre in heartbeat.beats:
            first, last = max(0, centre - before), min(cleaned.shape[1], centre + after)
            cleaned[row, first:last] -= template[first - (centre - before) : len(template) - (centre + after - last)]
        rows.append(row)
    return cleaned, rows


def remove_heartbeat(data: np.ndarray, sfreq: float, ecg: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """``(data, note)``: ``data`` ``[channels, samples]`` (uV) with the heartbeat subtracted from
    the channels that carry it; unchanged, with an empty note, when none does. The beats are read
    on ``ecg`` (the recording's ECG channel over the same samples, uV) where it beats, else
    on the EEG channel that beats most clearly. A chest lead's QRS is ~100x the few uV an ear
    reference picks up, so it times every beat to the sample, where the EEG's own QRS, under
    spindles and beta of its size, puts 13-36 % of the beats a QRS wave (> 10 ms) off at 15-20 uV
    of ECG (SPINKY test and train with ``simulate.cardiac_artifact`` played in), and the template
    subtracted there leaves most of the QRS. Timed on a lead, 15 and 20 uV of ECG cost no spindle on
    the test file (F1 0.77 as without ECG; 0.70 and 0.65 timed on the EEG)."""
    data = np.atleast_2d(np.asarray(data, dtype=np.float64))
    best = find_heartbeat(np.asarray(ecg, dtype=np.float64), sfreq) if ecg is not None else None
    on_lead = best is not None
    if not on_lead:
        found = [find_heartbeat(row, sfreq) for row in data]
        best = max((h for h in found if h is not None), key=lambda h: h.regularity, default=None)
    if best is None:
        return data, ""
    cleaned, rows = subtract_heartbeat(data, sfreq, best, timed_apart=on_lead)
    if not rows:
        return data, ""
    return cleaned, (f"heartbeat (ECG) subtracted from {len(rows)} of {data.shape[0]} channels ({len(best.beats)} beats "
                     f"from the {'ECG channel' if on_lead else 'EEG'}, {60.0 / best.period_s:.0f} per min)")  # fmt: skip
