"""Artifacts on a page: what they are, where (channels, span), how sure (score).

Each detector looks at the page's montage channels (the page as drawn, 0.5-70 Hz) with short
sliding windows, flags windows by a physiological criterion, and merges flagged windows of
neighbouring channels into artifacts. Flat electrodes come from the signal flags, found on the
recording as read (after filtering a flat electrode is indistinguishable in a bipolar pair).
Every threshold is in :class:`ArtifactSettings`, with the reasoning beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cerebragloss.engine.background import PageSpectrum, electrodes_of


@dataclass(frozen=True)
class ArtifactSettings:
    """Thresholds of the artifact detectors (engine settings)."""

    # --- EMG: scalp muscle is broadband noise above 20 Hz that no cerebral rhythm produces at
    # this voltage; spikes also have fast components, but as isolated transients, so the
    # fast activity must be steady (low crest factor) and last.
    emg_low_hz: float = 30.0  #: above beta (13-30 Hz) and the fast edges of spikes
    emg_high_hz: float = 45.0  #: below 50 Hz mains and the 70 Hz low-pass
    emg_min_rms_uv: float = 5.0  #: 1/f background stays near 1-2 uV RMS in 30-45 Hz
    emg_max_crest: float = 4.5  #: peak/RMS of the fast band; Gaussian noise ~3.5, a spike > 6
    emg_min_s: float = 1.0  #: four windows: a polyspike burst (< 0.4 s) cannot fill them
    #: muscle keeps firing through the window: at least 3 of its 4 quarters carry the fast
    #: activity, where a 3 Hz spike-and-wave run lights one quarter in three
    emg_min_quarters: int = 3
    # --- Line noise: a narrow peak at the mains frequency far above the neighbouring spectrum.
    line_frequencies: tuple[float, ...] = (50.0, 60.0)
    line_min_rms_uv: float = 4.0  #: visible at 10 uV/mm as a thickened trace
    line_min_ratio: float = 3.0  #: mains-band RMS over the 30-45 Hz RMS
    # --- EOG: blinks move Fp1 and Fp2 together (the cornea is positive and the eyes roll up);
    # lateral gaze moves F7 and F8 in opposite directions. Both are slow (< 4 Hz) and steeply
    # frontal, which frontal delta of sleep is not.
    eog_max_hz: float = 4.0
    blink_min_uv: float = 40.0
    lateral_min_uv: float = 25.0
    lateral_min_anticorrelation: float = 0.6
    eog_frontal_ratio: float = 2.0  #: frontopolar deflection over the median channel elsewhere
    #: ...and over the largest one elsewhere: a blink fades to ~1/3 by F3/Fz/F4; the frontal slow
    #: waves of N3 do not fade so. Measured (largest-behind ratio of the blink windows called): the
    #: simulator's N3 drawn as recorded 1.00-1.16 (13 false blinks on 10 pages at 1.0), its blinks
    #: 1.17-3.3 over the four montages, blinks of the real awake recordings here 5 % below 1.4-1.6
    blink_min_over_largest: float = 1.25
    #: a blink is one deflection: within ``blink_swing_s`` before it (and after it, for a negative
    #: one) the frontopolar electrodes do not swing the other way by this share of it (a
    #: K-complex does, negative wave first)
    blink_max_swing: float = 0.6
    blink_swing_s: float = 0.5
    # --- Breathing / sweat: very slow sway (< 0.8 Hz) of a patch of electrodes.
    slow_max_hz: float = 0.8
    slow_min_uv: float = 40.0  #: half peak-to-peak below 0.8 Hz; cerebral delta that slow and large is diffuse (and sleep)
    slow_window_s: float = 2.5  #: most of a cycle of a 0.3-0.6 Hz sway
    #: a transient (K-complex, pop) flags the windows that contain it: at most window + 1 s
    slow_min_s: float = 4.0
    slow_max_fraction: float = 0.5  #: a patch, not the whole head (that is delta sleep)
    # --- Electrode pop and electrode noise: one electrode, so only the channels through it.
    pop_min_jump_uv: float = 80.0  #: change within 10 ms: no cerebral potential moves that fast
    pop_hold_fraction: float = 0.35  #: for 80 ms after it, a pop holds this much of its jump
    pop_hold_s: float = 0.08
    #: channels not through the electrode move less than this share of the jump (a spike's field
    #: reaches the neighbours; an electrode's own fault does not)
    pop_max_elsewhere: float = 0.25
    #: electrode noise is measured in 1-30 Hz: slow sway is breathing/sweat, and the step of a
    #: pop rings out within a second there, while a loose electrode keeps shaking
    noise_band_hz: tuple[float, float] = (1.0, 30.0)
    noise_min_uv: float = 60.0  #: half peak-to-peak in 0.5 s windows of one electrode's channels...
    noise_electrode_ratio: float = 2.5  #: ...this many times the median channel without it
    noise_min_s: float = 1.25
    #: with fewer channels than this outside the electrode there is no "rest of the head" to
    #: compare with (1- and 2-channel pages): the electrode is compared with its own page instead
    #: (the quietest quarter of its windows), and the shaking must outlast any cerebral transient: a K-complex or a
    #: slow wave fills 0.5-1.5 s, a loose electrode keeps shaking for seconds
    noise_min_reference_channels: int = 2
    noise_alone_min_s: float = 3.0
    #: the "rest" amplitude a ratio is taken against is at least this (uV): a near-flat reference
    #: must not turn an ordinary deflection into a score of 1e11
    noise_reference_floor_uv: float = 5.0
    window_s: float = 0.5
    hop_s: float = 0.25


def _windows(data: np.ndarray, sfreq: float, settings: ArtifactSettings) -> tuple[np.ndarray, np.ndarray]:
    """``[channels, windows, samples]`` views and each window's start time."""
    n, hop = int(round(settings.window_s * sfreq)), int(round(settings.hop_s * sfreq))
    starts = np.arange(0, data.shape[-1] - n + 1, hop)
    return np.stack([data[:, s : s + n] for s in starts], axis=1), starts / sfreq


def _spans(flags: np.ndarray, starts: np.ndarray, window_s: float, min_s: float = 0.0) -> list[tuple[float, float]]:
    """Runs of flagged windows as (start, end) seconds, at least ``min_s`` long."""
    spans = []
    run_start = None
    for i, flagged in enumerate(list(flags) + [False]):
        if flagged and run_start is None:
            run_start = i
        elif not flagged and run_start is not None:
            span = (float(starts[run_start]), float(starts[i - 1] + window_s))
            if span[1] - span[0] >= min_s:
                spans.append(span)
            run_start = None
    return spans


#: same-type findings this close in time are one artifact: a slow sway measured with windows of
#: a few seconds flickers at its edges, and one burst of muscle is not three
MERGE_GAP_S = {"breathing": 2.0, "emg": 0.5, "line_noise": 1.0, "electrode_noise": 0.5}


def _merge(found: list[tuple[str, str, float, float, float]]) -> list[dict]:
    """(type, channel, start, end, score) -> artifacts: one per type and overlapping span, with
    the channels that share it."""
    artifacts: list[dict] = []
    for kind, channel, start, end, score in sorted(found, key=lambda f: (f[0], f[2])):
        for artifact in artifacts:
            gap = MERGE_GAP_S.get(kind, 0.0)
            if artifact["type"] == kind and start <= artifact["end_s"] + gap and end >= artifact["start_s"] - gap:
                artifact["start_s"], artifact["end_s"] = min(artifact["start_s"], start), max(artifact["end_s"], end)
                if channel not in artifact["channels"]:
                    artifact["channels"].append(channel)
                artifact["score"] = max(artifact["score"], score)
                break
        else:
            artifacts.append({"type": kind, "channels": [channel], "start_s": start, "end_s": end, "score": score})
    for artifact in artifacts:
        artifact["start_s"], artifact["end_s"] = round(artifact["start_s"], 3), round(artifact["end_s"], 3)
        artifact["score"] = round(float(artifact["score"]), 2)
        artifact["source"] = "engine"
    return artifacts


def find_emg(data, sfreq, channels, settings: ArtifactSettings, spectrum: PageSpectrum | None = None) -> list[tuple]:
    spectrum = spectrum or PageSpectrum(data, sfreq)
    fast = spectrum.band(settings.emg_low_hz, settings.emg_high_hz)
    windows, starts = _windows(fast, sfreq, settings)
    rms = np.sqrt((windows**2).mean(axis=-1))
    crest = np.abs(windows).max(axis=-1) / np.maximum(rms, 1e-9)
    quarters = windows[..., : windows.shape[-1] // 4 * 4].reshape(*windows.shape[:2], 4, -1)
    steady = (np.sqrt((quarters**2).mean(axis=-1)) >= settings.emg_min_rms_uv).sum(axis=-1) >= settings.emg_min_quarters
    found = []
    for row, channel in enumerate(channels):
        flags = (rms[row] >= settings.emg_min_rms_uv) & (crest[row] <= settings.emg_max_crest) & steady[row]
        for start, end in _spans(flags, starts, settings.window_s, settings.emg_min_s):
            found.append(("emg", channel, start, end, float(rms[row][flags].max() / settings.emg_min_rms_uv)))
    return found


def find_line_noise(data, sfreq, channels, settings: ArtifactSettings, spectrum: PageSpectrum | None = None) -> list[tuple]:
    spectrum = spectrum or PageSpectrum(data, sfreq)
    found = []
    reference = spectrum.band(30.0, 45.0)
    for mains in settings.line_frequencies:
        if mains + 1 >= sfreq / 2:
            continue
        narrow = spectrum.band(mains - 1.0, mains + 1.0)
        windows, starts = _windows(narrow, sfreq, settings)
        ref_windows, _ = _windows(reference, sfreq, settings)
        rms = np.sqrt((windows**2).mean(axis=-1))
        ratio = rms / np.maximum(np.sqrt((ref_windows**2).mean(axis=-1)), 1e-9)
        for row, channel in enumerate(channels):
            flags = (rms[row] >= settings.line_min_rms_uv) & (ratio[row] >= settings.line_min_ratio)
            for start, end in _spans(flags, starts, settings.window_s, settings.window_s):
                found.append(("line_noise", channel, start, end, float(ratio[row][flags].max())))
    return found


def _first_electrode_rows(channels: list[str], names: tuple[str, ...]) -> list[int]:
    return [i for i, c in enumerate(channels) if electrodes_of(c) and electrodes_of(c)[0] in names]


def _rows_through(channels: list[str], electrode: str, without: str) -> tuple[list[int], np.ndarray]:
    """Rows through ``electrode`` and not ``without``, with the sign it enters each with (+1 as
    the channel's first electrode, -1 as its second): in the transverse montage Fp1 is the second
    electrode of F7-Fp1, and Fp1-Fp2 carries both frontopolar electrodes (a blink cancels there)."""
    rows = [i for i, c in enumerate(channels) if electrode in electrodes_of(c) and without not in electrodes_of(c)]
    return rows, np.array([1.0 if electrodes_of(channels[i])[0] == electrode else -1.0 for i in rows])


def _gaze_rows(channels: list[str], electrode: str, other: str) -> tuple[list[int], np.ndarray]:
    """The rows that start from ``electrode`` (F7-T7 in the double banana), or where none does
    (F8 ends its transverse links: Fp2-F8, F4-F8) every row through it, signed as in
    :func:`_rows_through`."""
    first = _first_electrode_rows(channels, (electrode,))
    return (first, np.ones(len(first))) if first else _rows_through(channels, electrode, other)


def find_eog(data, sfreq, channels, settings: ArtifactSettings, spectrum: PageSpectrum | None = None) -> list[tuple]:
    spectrum = spectrum or PageSpectrum(data, sfreq)
    slow = spectrum.band(0.0, settings.eog_max_hz)
    windows, starts = _windows(slow, sfreq, settings)
    # The signed extreme of each window: blinks and gaze have a direction.
    index = np.abs(windows).argmax(axis=-1)
    peak = np.take_along_axis(windows, index[..., None], axis=-1)[..., 0]
    found = []
    (left_fp, left_sign), (right_fp, right_sign) = _rows_through(channels, "Fp1", "Fp2"), _rows_through(channels, "Fp2", "Fp1")
    # Further back along the same chains: channels that do not touch Fp1/Fp2/F7/F8.
    frontal = {"Fp1", "Fp2", "F7", "F8"}
    back = [i for i, c in enumerate(channels) if not set(electrodes_of(c)) & frontal]
    if left_fp and right_fp:
        # each row's extreme as the frontopolar electrode's own deflection
        left, right = peak[left_fp] * left_sign[:, None], peak[right_fp] * right_sign[:, None]
        strongest_left = left[np.abs(left).argmax(axis=0), np.arange(left.shape[1])]
        strongest_right = right[np.abs(right).argmax(axis=0), np.arange(right.shape[1])]
        # Typical deflection of the rest of the head: a blink leaves it quiet, frontal delta does not.
        behind = np.median(np.abs(peak[back]), axis=0) if back else np.zeros_like(strongest_left)
        together = np.sign(strongest_left) == np.sign(strongest_right)
        big = np.minimum(np.abs(strongest_left), np.abs(strongest_right)) >= settings.blink_min_uv
        steep = np.minimum(np.abs(strongest_left), np.abs(strongest_right)) >= settings.eog_frontal_ratio * behind
        # ...and the frontopolar channels carry the page's largest slow deflection (a K-complex
        # peaks over the vertex, further back).
        largest_behind = np.abs(peak[back]).max(axis=0) if back else np.zeros_like(strongest_left)
        steep &= np.minimum(np.abs(strongest_left), np.abs(strongest_right)) >= settings.blink_min_over_largest * largest_behind
        # A blink is one deflection; a K-complex seen at Fp1/Fp2 swings back the other way within
        # half a second. Its negative wave comes first, so a positive deflection is only
        # questioned by a swing before it: after a blink (positive at Fp1/Fp2) the eyes may
        # settle below their resting level, an undershoot that is no K-complex.
        own = np.concatenate([slow[left_fp] * left_sign[:, None], slow[right_fp] * right_sign[:, None]])
        reach = int(round(settings.blink_swing_s * sfreq))
        opposite = np.zeros_like(big)
        for w in np.flatnonzero(together & big & steep):
            sign = np.sign(strongest_left[w])
            at = int(round(starts[w] * sfreq)) + int(index[left_fp[np.abs(left[:, w]).argmax()], w])
            until = at + 1 if sign > 0 else at + reach + 1
            swing = -sign * own[:, max(0, at - reach) : until]
            opposite[w] = swing.max() >= settings.blink_max_swing * min(abs(strongest_left[w]), abs(strongest_right[w]))
        flags = together & big & steep & ~opposite
        for start, end in _spans(flags, starts, settings.window_s):
            for row in left_fp + right_fp:
                found.append(("eog", channels[row], start, end, float(np.abs(peak[row]).max() / settings.blink_min_uv)))
    (left_f7, left_sign), (right_f8, right_sign) = _gaze_rows(channels, "F7", "F8"), _gaze_rows(channels, "F8", "F7")
    if left_f7 and right_f8:
        left, right = (peak[left_f7] * left_sign[:, None]).mean(axis=0), (peak[right_f8] * right_sign[:, None]).mean(axis=0)
        # Gaze moves the two sides as mirror images: the slow traces are anti-correlated over the
        # window, where the slow activity of sleep moves them together.
        left_trace = (windows[left_f7] * left_sign[:, None, None]).mean(axis=0)
        right_trace = (windows[right_f8] * right_sign[:, None, None]).mean(axis=0)
        left_trace = left_trace - left_trace.mean(axis=-1, keepdims=True)
        right_trace = right_trace - right_trace.mean(axis=-1, keepdims=True)
        correlation = (left_trace * right_trace).sum(axis=-1) / np.maximum(
            np.sqrt((left_trace**2).sum(axis=-1) * (right_trace**2).sum(axis=-1)), 1e-9
        )
        flags = (np.sign(left) == -np.sign(right)) & (np.minimum(np.abs(left), np.abs(right)) >= settings.lateral_min_uv)
        flags &= correlation <= -settings.lateral_min_anticorrelation
        behind = np.median(np.abs(peak[back]), axis=0) if back else np.zeros_like(left)
        flags &= np.minimum(np.abs(left), np.abs(right)) >= settings.eog_frontal_ratio * behind
        # In a bipolar chain the gaze dipole reverses phase at F7/F8 (Fp1-F7 against F7-T7);
        # shared slow activity moves both links of the chain the same way.
        for first, into in ((left, [i for i, c in enumerate(channels) if c.endswith("-F7")]),
                            (right, [i for i, c in enumerate(channels) if c.endswith("-F8")])):  # fmt: skip
            if into:
                flags &= np.sign(peak[into].mean(axis=0)) == -np.sign(first)
        for start, end in _spans(flags, starts, settings.window_s):
            for row in left_f7 + right_f8:
                found.append(("eog", channels[row], start, end, float(min(abs(left).max(), abs(right).max()) / settings.lateral_min_uv)))
    return found


def find_slow_sway(data, sfreq, channels, settings: ArtifactSettings, spectrum: PageSpectrum | None = None) -> list[tuple]:
    spectrum = spectrum or PageSpectrum(data, sfreq)
    slow = spectrum.band(0.05, settings.slow_max_hz)  # without the page mean (DC)
    n = int(round(settings.slow_window_s * sfreq))
    hop = int(round(0.5 * sfreq))
    starts = np.arange(0, data.shape[-1] - n + 1, hop)
    if not len(starts):
        return []
    amplitude = np.stack([np.ptp(slow[:, s : s + n], axis=-1) / 2 for s in starts], axis=1)
    # A sway swings both ways around the baseline; the slow tail of a pop or a K-complex leans
    # to one side.
    low = np.stack([slow[:, s : s + n].min(axis=-1) for s in starts], axis=1)
    high = np.stack([slow[:, s : s + n].max(axis=-1) for s in starts], axis=1)
    balanced = np.minimum(-low, high) >= 0.5 * amplitude
    flagged = (amplitude >= settings.slow_min_uv) & balanced
    # Whole-head slow activity is delta sleep (or a bad reference), not a local sway.
    local = flagged.mean(axis=0) <= settings.slow_max_fraction
    found = []
    for row, channel in enumerate(channels):
        for start, end in _spans(flagged[row] & local, starts / sfreq, settings.slow_window_s, settings.slow_min_s):
            found.append(("breathing", channel, start, end, float(amplitude[row].max() / settings.slow_min_uv)))
    return found


def find_electrode_artifacts(data, sfreq, channels, settings: ArtifactSettings, spectrum: PageSpectrum | None = None) -> list[tuple]:
    """Pops and noise: large, fast or irregular changes on the channels through one electrode
    and on no channel without it."""
    spectrum = spectrum or PageSpectrum(data, sfreq)
    found = []
    electrodes = sorted({e for c in channels for e in electrodes_of(c)})
    step = max(1, int(round(0.01 * sfreq)))
    hold = int(round(settings.pop_hold_s * sfreq))
    jump = np.abs(data[:, step:] - data[:, :-step])
    windows, starts = _windows(spectrum.band(*settings.noise_band_hz), sfreq, settings)
    amplitude = np.ptp(windows, axis=-1) / 2
    for electrode in electrodes:
        through = [i for i, c in enumerate(channels) if electrode in electrodes_of(c)]
        others = [i for i in range(len(channels)) if i not in through]
        # Pop: a jump on every channel through the electrode that is still held 50 ms later.
        for sample in np.flatnonzero(jump[through].min(axis=0) >= settings.pop_min_jump_uv):
            if others and jump[others, sample].max() >= settings.pop_max_elsewhere * jump[through, sample].min():
                continue
            after = sample + step + hold
            if after > data.shape[1]:
                break  # too close to the page end to see whether it holds (the next page will)
            size = data[through, sample + step] - data[through, sample]
            held = (data[through, sample + step : after] - data[through, sample][:, None]) / size[:, None]
            if held.size and held.min() >= settings.pop_hold_fraction:
                t = sample / sfreq
                for row in through:
                    found.append(("electrode_pop", channels[row], t, min(t + 0.5, data.shape[1] / sfreq), float(np.abs(size).min() / settings.pop_min_jump_uv)))
        # Noise: windows where the channels through the electrode are far larger than the rest.
        lowest = amplitude[through].min(axis=0)
        alone = len(others) < settings.noise_min_reference_channels
        if alone:  # the quieter part of its own page (a loose electrode may shake for half of it)
            rest = np.full_like(lowest, np.percentile(lowest, 25))
        else:
            rest = np.median(amplitude[others], axis=0)
        rest = np.maximum(rest, settings.noise_reference_floor_uv)
        big = (lowest >= settings.noise_min_uv) & (lowest >= settings.noise_electrode_ratio * rest)
        for start, end in _spans(big, starts, settings.window_s, settings.noise_alone_min_s if alone else settings.noise_min_s):
            for row in through:
                found.append(("electrode_noise", channels[row], start, end, float((lowest / rest)[big].max())))
    return found


def find_artifacts(data: np.ndarray, sfreq: float, channels: list[str], settings: ArtifactSettings | None = None) -> list[dict]:
    """All detectors over one page ``[channels, samples]`` (uV, as drawn)."""
    settings = settings or ArtifactSettings()
    data = np.nan_to_num(np.asarray(data, dtype=np.float64))
    found = []
    spectrum = PageSpectrum(data, sfreq)
    for detector in (find_emg, find_line_noise, find_eog, find_slow_sway, find_electrode_artifacts):
        found += detector(data, sfreq, channels, settings, spectrum)
    return _merge(_resolve_overlaps(found))


def _resolve_overlaps(found: list[tuple]) -> list[tuple]:
    """One explanation per disturbance of a channel: a jump inside a run of electrode noise is
    that noise, and the slow tail after a pop is the pop, not a sway."""

    def explained(item: tuple, kind: str, margin_s: float) -> bool:
        _, channel, start, end, _ = item
        return any(o[0] == kind and o[1] == channel and o[2] - margin_s <= end and o[3] + margin_s >= start for o in found)

    return [
        item for item in found
        # the tapered edges of a noisy run fall below the noise threshold but still jump
        if not (item[0] == "electrode_pop" and explained(item, "electrode_noise", 1.0))
        and not (item[0] == "breathing" and explained(item, "electrode_pop", 0.5))
    ]  # fmt: skip
