"""Simulated EEG with exact ground truth, written as EDF+ so every run exercises the real reader.

A recording is background (spatially correlated 1/f activity plus the rhythms of each vigilance
state it visits) with waveform events and artifacts added (``transients.py``); the truth -
states, events with their scalp field, artifacts - goes to ``<recording>.events.json`` beside the
EDF. The hybrid mode adds the same events and artifacts to a real recording's background, since a
detector that has only seen synthetic background will not transfer to the clinic.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from cerebragloss.labels import (
    ARTIFACT_TYPES,
    EPILEPTIFORM_CLASSES,
    SLEEP_CLASSES,
    SLEEP_CLASSES_BY_STATE,
    STATES,
    WAVEFORM_CLASSES,
)
from cerebragloss.signals.channels import TEN_TWENTY

# the neutral home of electrode positions; re-exported here for the simulator's callers
from cerebragloss.signals.positions import electrode_positions  # noqa: F401
from cerebragloss.signals.positions import electrode_positions_mm as _electrode_positions
from cerebragloss.signals.transients import (
    MUSCLE_BURST_S,
    Transient,
    make_alpha_run,
    make_artifact,
    make_event,
    make_muscle_burst,
)

#: Version of the truth file format (``<recording>.events.json``).
TRUTH_SCHEMA = 1

#: How much of the state's rhythm each electrode carries (posterior alpha is occipital/parietal).
_POSTERIOR_WEIGHT = {"O1": 1.0, "O2": 1.0, "P7": 0.6, "P8": 0.6, "P3": 0.6, "P4": 0.6, "Pz": 0.6,
                     "T7": 0.25, "T8": 0.25, "C3": 0.2, "C4": 0.2, "Cz": 0.2}  # fmt: skip
#: Frontal predominance (beta awake, delta in deep sleep).
_FRONTAL_WEIGHT = {"Fp1": 1.0, "Fp2": 1.0, "F3": 1.0, "F4": 1.0, "Fz": 1.0, "F7": 0.8, "F8": 0.8,
                   "C3": 0.7, "C4": 0.7, "Cz": 0.7}  # fmt: skip
#: Central predominance (drowsy and N2 theta).
_CENTRAL_WEIGHT = {"C3": 1.0, "C4": 1.0, "Cz": 1.0, "F3": 0.8, "F4": 0.8, "Fz": 0.8, "P3": 0.8, "P4": 0.8,
                   "Pz": 0.8}  # fmt: skip


@dataclass(frozen=True)
class BackgroundSettings:
    """One subject's background. ``state``: ``awake`` (eyes closed), ``drowsy``, ``n2`` or ``n3``."""

    state: str = "awake"
    alpha_hz: float = 10.0  #: posterior dominant rhythm frequency
    alpha_uv: float = 40.0  #: half peak-to-peak of the alpha at O1/O2
    noise_uv: float = 8.0  #: RMS of the 1/f background at each electrode
    spatial_mm: float = 60.0  #: correlation length between electrodes on the scalp
    beta_uv: float = 5.0  #: frontocentral beta when awake


def _pink_noise(rng: np.random.Generator, shape: tuple[int, int], sfreq: float) -> np.ndarray:
    spectrum = rng.normal(size=(shape[0], shape[1] // 2 + 1)) + 1j * rng.normal(size=(shape[0], shape[1] // 2 + 1))
    freqs = np.fft.rfftfreq(shape[1], 1 / sfreq)
    spectrum *= 1 / np.sqrt(np.maximum(freqs, 0.5))
    noise = np.fft.irfft(spectrum, n=shape[1], axis=1)
    return noise / noise.std(axis=1, keepdims=True)


def _waxing_rhythm(rng: np.random.Generator, n: int, sfreq: float, freq: float, jitter_hz: float = 0.3) -> np.ndarray:
    """A rhythm that wobbles in frequency (standard deviation ``jitter_hz``, over a few seconds)
    and waxes and wanes, as a posterior alpha does: its frequency stays within about half a
    hertz over a recording, it does not wander off."""
    t = np.arange(n) / sfreq
    wobble = np.fft.rfft(rng.normal(size=n))
    wobble[np.fft.rfftfreq(n, 1 / sfreq) > 0.3] = 0  # changes over seconds, not cycles
    wobble = np.fft.irfft(wobble, n=n)
    drift = jitter_hz * (wobble - wobble.mean()) / (wobble.std() + 1e-12)
    phase = 2 * np.pi * np.cumsum(freq + drift) / sfreq + rng.uniform(0, 2 * np.pi)
    envelope = 0.75 + 0.25 * np.sin(2 * np.pi * t / rng.uniform(2.0, 5.0) + rng.uniform(0, 2 * np.pi))
    return envelope * np.sin(phase)


def _weights(electrodes: list[str], table: dict[str, float], default: float) -> np.ndarray:
    return np.array([table.get(e, default) for e in electrodes])[:, None]


def simulate_background(
    duration_s: float,
    sfreq: float = 200.0,
    settings: BackgroundSettings | None = None,
    electrodes: list[str] | None = None,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """``[electrodes, samples]`` microvolts of background EEG against a linked-ear reference.

    Spatially correlated 1/f activity (a Gaussian kernel over scalp distance mixes independent
    sources) plus the state's rhythms: posterior alpha and frontocentral beta awake; alpha
    dropout and diffuse theta when drowsy; theta with some delta in N2; high-voltage frontal
    delta in N3.
    """
    settings = settings or BackgroundSettings()
    electrodes = list(electrodes or TEN_TWENTY)
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sfreq))
    positions = _electrode_positions(electrodes)
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    mixing = np.exp(-((distance / settings.spatial_mm) ** 2))
    mixing /= np.linalg.norm(mixing, axis=1, keepdims=True)
    data = settings.noise_uv * (mixing @ _pink_noise(rng, (len(electrodes), n), sfreq))
    frontal = _weights(electrodes, _FRONTAL_WEIGHT, 0.3)
    central = _weights(electrodes, _CENTRAL_WEIGHT, 0.5)

    if settings.state == "awake":
        rhythm = _waxing_rhythm(rng, n, sfreq, settings.alpha_hz)
        data += settings.alpha_uv * _weights(electrodes, _POSTERIOR_WEIGHT, 0.08) * rhythm[None]
        data += settings.beta_uv * frontal * _waxing_rhythm(rng, n, sfreq, rng.uniform(18, 24), jitter_hz=1.0)[None]
    elif settings.state == "drowsy":
        rhythm = _waxing_rhythm(rng, n, sfreq, settings.alpha_hz - 1.0)
        data += 0.25 * settings.alpha_uv * _weights(electrodes, _POSTERIOR_WEIGHT, 0.08) * rhythm[None]
        data += 0.6 * settings.alpha_uv * central * _waxing_rhythm(rng, n, sfreq, rng.uniform(5, 7), jitter_hz=0.6)[None]
    elif settings.state == "n2":
        data += 0.5 * settings.alpha_uv * central * _waxing_rhythm(rng, n, sfreq, rng.uniform(4.5, 6.5), jitter_hz=0.6)[None]
        data += 0.6 * settings.alpha_uv * frontal * _waxing_rhythm(rng, n, sfreq, rng.uniform(1.5, 2.5), jitter_hz=0.2)[None]
    elif settings.state == "n3":
        for freq in (0.8, 1.3, 1.9):
            data += 0.9 * settings.alpha_uv * frontal * _waxing_rhythm(rng, n, sfreq, freq, jitter_hz=0.1)[None]
    else:
        raise ValueError(f"unknown state {settings.state!r}; choose one of {', '.join(STATES)}")
    return data


#: ECG as an EEG electrode picks it up: (amplitude relative to R, delay from R in s, width in s) of
#: the P, Q, R, S and T waves, the sum-of-Gaussians beat of ECGSYN (McSharry et al. 2003, IEEE
#: TBME 50:289), with its 0.1-0.3 s QRS-to-T spacing at a resting rate
_ECG_WAVES = ((0.15, -0.2, 0.025), (-0.12, -0.03, 0.008), (1.0, 0.0, 0.01), (-0.3, 0.03, 0.01), (0.3, 0.25, 0.05))


def cardiac_artifact(samples: int, sfreq: float, r_peak_uv: float, beats_per_min: float = 66.0,
                     variability: float = 0.04, seed: int = 0) -> np.ndarray:  # fmt: skip
    """ECG picked up by an EEG electrode (an ear or mastoid reference picks up 5-50 uV of it):
    ``samples`` values (uV) of beats at ``beats_per_min``, each period varying by ``variability``
    (SD, share of the period; resting beat-to-beat variation is a few percent)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sfreq
    signal = np.zeros(samples)
    beat = 0.5
    while beat < samples / sfreq:
        for height, delay, width in _ECG_WAVES:
            first, last = max(0, int((beat + delay - 5 * width) * sfreq)), min(samples, int((beat + delay + 5 * width) * sfreq) + 1)
            signal[first:last] += height * np.exp(-0.5 * ((t[first:last] - beat - delay) / width) ** 2)
        beat += 60.0 / beats_per_min * (1.0 + variability * rng.standard_normal())
    return r_peak_uv * signal


def chest_ecg(samples: int, sfreq: float, noise_uv: float = 20.0, seed: int = 5) -> np.ndarray:
    """The ECG channel a polysomnogram records beside the EEG, in V as read from a file: a 1 mV QRS
    beating with :func:`cardiac_artifact` of the same ``samples`` and ``sfreq`` (same beat times),
    and ``noise_uv`` of its own white noise."""
    noise = noise_uv * np.random.default_rng(seed).standard_normal(samples)
    return (cardiac_artifact(samples, sfreq, 1000.0) + noise) * 1e-6


def write_edf(path: str | Path, data_uv: np.ndarray, sfreq: float, channel_names: list[str], *, annotations=()) -> Path:
    """Write ``[channels, samples]`` microvolts as EDF+ (through MNE's exporter)."""
    import mne

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = mne.create_info(list(channel_names), sfreq, ch_types="eeg")
    raw = mne.io.RawArray(np.asarray(data_uv, dtype=np.float64) * 1e-6, info, verbose="error")
    if annotations:
        onsets, durations, descriptions = zip(*annotations, strict=True)
        raw.set_annotations(mne.Annotations(onsets, durations, descriptions))
    temporary = path.with_name(path.name + ".partial.edf")
    mne.export.export_raw(temporary, raw, fmt="edf", overwrite=True, verbose="error")
    temporary.replace(path)
    return path


@dataclass
class SimulationSettings:
    """What goes into each simulated recording (``tools/simulate.py --config/--set``)."""

    sfreq: float = 200.0
    #: vigilance states visited in order, each for an equal share of the recording
    states: list[str] = field(default_factory=lambda: list(STATES))
    events_per_page: float = 1.6  #: mean waveform events per 10 s
    artifacts_per_page: float = 0.5  #: mean artifacts per 10 s
    #: minimum gap between two events, so that each truth box holds one waveform
    min_event_gap_s: float = 0.4
    #: waveform classes to draw from (default: all 9, sleep transients only in sleep)
    classes: list[str] = field(default_factory=lambda: list(WAVEFORM_CLASSES))
    artifact_types: list[str] = field(default_factory=lambda: list(ARTIFACT_TYPES))
    crossfade_s: float = 2.0  #: overlap between two states' backgrounds
    #: mean short (0.2-1 s) muscle bursts per 10 s, drawn besides ``artifacts_per_page`` as
    #: ``emg`` artifacts (``transients.make_muscle_burst``); 0 draws none and leaves every other
    #: draw as it was. Detector training pages use them as unlabelled background, so that the
    #: network learns a muscle burst is not a polyspike.
    muscle_bursts_per_page: float = 0.0

    def __post_init__(self) -> None:
        problems = [f"states: unknown {s!r} (choose from {', '.join(STATES)})" for s in self.states if s not in STATES]
        problems += [f"classes: unknown {c!r}" for c in self.classes if c not in WAVEFORM_CLASSES]
        problems += [f"artifact_types: unknown {a!r}" for a in self.artifact_types if a not in ARTIFACT_TYPES]
        if self.sfreq < 150:
            problems.append(f"sfreq: {self.sfreq} Hz cannot carry spikes, EMG and line noise; use >= 150")
        if problems:
            raise ValueError("simulation settings: " + "; ".join(problems))


def state_blocks(duration_s: float, states: list[str]) -> list[dict]:
    """Equal consecutive spans, one per state: ``[{"state", "onset_s", "offset_s"}]``."""
    edges = np.linspace(0.0, duration_s, len(states) + 1)
    return [{"state": state, "onset_s": round(float(a), 3), "offset_s": round(float(b), 3)}
            for state, a, b in zip(states, edges[:-1], edges[1:], strict=True)]  # fmt: skip


def state_at(blocks: list[dict], time_s: float) -> str:
    for block in blocks:
        if block["onset_s"] <= time_s < block["offset_s"]:
            return block["state"]
    return blocks[-1]["state"]


def _background_over_states(blocks, electrodes, sfreq, subject: BackgroundSettings, crossfade_s, rng) -> np.ndarray:
    n = int(round(blocks[-1]["offset_s"] * sfreq))
    data = np.zeros((len(electrodes), n))
    fade = int(round(crossfade_s * sfreq))
    for block in blocks:
        first = max(0, int(round(block["onset_s"] * sfreq)) - fade // 2)
        last = min(n, int(round(block["offset_s"] * sfreq)) + fade // 2)
        piece = simulate_background((last - first) / sfreq, sfreq, replace(subject, state=block["state"]), electrodes, rng)
        window = np.ones(last - first)
        if first > 0:
            window[:fade] = np.linspace(0, 1, fade)
        if last < n:
            window[-fade:] = np.linspace(1, 0, fade)
        data[:, first:last] += piece[:, : last - first] * window
    return data


def schedule_transients(
    duration_s: float,
    blocks: list[dict],
    electrodes: list[str],
    settings: SimulationSettings,
    rng: np.random.Generator,
) -> list[Transient]:
    """Place events and artifacts over a recording, respecting the state of each moment.

    An event's scalp field is laid out over the whole template head and then kept on the
    electrodes the recording has: POSTS stay occipital in a C3-only recording (and so barely
    show there) instead of moving to C3. Artifacts are local to electrodes that exist."""
    positions = electrode_positions(electrodes)
    if not positions:
        raise ValueError(f"no 10-20 electrodes to place events on (electrodes: {', '.join(electrodes)})")
    head = electrode_positions(list(TEN_TWENTY))
    transients: list[Transient] = []
    busy: list[tuple[float, float]] = []
    pages = duration_s / 10.0
    for _ in range(rng.poisson(settings.events_per_page * pages)):
        onset = rng.uniform(0.3, max(0.31, duration_s - 3.5))
        state = state_at(blocks, onset)
        allowed = [c for c in settings.classes if c in EPILEPTIFORM_CLASSES or c in SLEEP_CLASSES_BY_STATE[state]]
        if not allowed:
            continue
        # Sleep transients get more weight where they may occur, so the 9 classes come out
        # roughly balanced over a recording that visits every state.
        weights = np.array([2.5 if c in SLEEP_CLASSES else 1.0 for c in allowed])
        label = allowed[rng.choice(len(allowed), p=weights / weights.sum())]
        event = _on_electrodes(make_event(label, onset, settings.sfreq, head, rng), positions)
        gap = settings.min_event_gap_s
        if event.offset_s > duration_s or any(event.onset_s < b + gap and a - gap < event.offset_s for a, b in busy):
            continue
        busy.append((event.onset_s, event.offset_s))
        transients.append(event)
    for _ in range(rng.poisson(settings.artifacts_per_page * pages)):
        if not settings.artifact_types:
            break
        label = settings.artifact_types[rng.integers(len(settings.artifact_types))]
        onset = rng.uniform(0.0, max(0.01, duration_s - 2.0))
        artifact = make_artifact(label, onset, settings.sfreq, positions, rng, max_duration_s=duration_s - onset)
        if artifact.offset_s <= duration_s:
            transients.append(artifact)
    if settings.muscle_bursts_per_page > 0:  # checked first, so that the default draws stay the same
        transients += _muscle_bursts(duration_s, positions, settings, rng)
    return sorted(transients, key=lambda t: t.onset_s)


def _muscle_bursts(duration_s: float, positions: dict, settings: SimulationSettings, rng: np.random.Generator,
                   page_s: float = 10.0) -> list[Transient]:  # fmt: skip
    """Short muscle bursts, 40 % ending flush with a page's right edge and 15 % starting at its
    left edge (the detector's false polyspike on real awake EEG was the last 0.9 s of a page, where
    the page cuts the burst and its context), the rest anywhere; 40 % over a run of posterior alpha."""
    bursts: list[Transient] = []
    pages = max(1, int(duration_s // page_s))
    for _ in range(rng.poisson(settings.muscle_bursts_per_page * duration_s / page_s)):
        duration = min(duration_s, rng.uniform(*MUSCLE_BURST_S))
        page_start = page_s * int(rng.integers(pages))
        where = rng.random()
        if where < 0.4:
            onset = page_start + page_s - duration - rng.uniform(0.0, 0.05)
        elif where < 0.55:
            onset = page_start + rng.uniform(0.0, 0.05)
        else:
            onset = rng.uniform(0.0, duration_s - duration)
        onset = float(np.clip(onset, 0.0, duration_s - duration))
        burst = make_muscle_burst(onset, settings.sfreq, positions, rng, max_duration_s=duration_s - onset, duration_s=duration)
        bursts.append(burst)
        if rng.random() < 0.4:
            start = max(0.0, onset - rng.uniform(0.5, 2.0))
            stop = min(duration_s, burst.offset_s + rng.uniform(0.5, 2.0))
            alpha = make_alpha_run(start, stop - start, settings.sfreq, positions, rng)
            if alpha is not None:
                bursts.append(alpha)
    return bursts


def _on_electrodes(event: Transient, positions: dict) -> Transient:
    """The part of a whole-head event on the electrodes a recording has."""
    if len(positions) == len(TEN_TWENTY):
        return event
    gains = {name: gain for name, gain in event.gains.items() if name in positions}
    strongest = max((abs(g) for g in event.gains.values()), default=1.0)
    return replace(
        event, gains=gains, channels=[c for c in event.channels if c in positions],
        amplitude_uv=float(np.max(np.abs(event.waveform))) * max((abs(g) for g in gains.values()), default=0.0) / strongest,
    )  # fmt: skip


def truth_record(recording: str, subject: str, duration_s: float, sfreq: float, blocks, transients, **extra) -> dict:
    """The ``<recording>.events.json`` document (times in seconds from the recording start)."""
    return {
        "schema": TRUTH_SCHEMA,
        "recording": recording,
        "subject": subject,
        "duration_s": duration_s,
        "sfreq": sfreq,
        "states": blocks,
        "events": [t.truth() for t in transients if t.kind == "event"],
        "artifacts": [t.truth() for t in transients if t.kind == "artifact"],
        **extra,
    }


def _write_truth(path: Path, truth: dict) -> Path:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(truth, indent=1))
    temporary.replace(path)
    return path


def truth_path(recording_path: str | Path) -> Path:
    """Where the truth of a recording lives: ``<dir>/<stem>.events.json``."""
    recording_path = Path(recording_path)
    return recording_path.with_name(recording_path.stem + ".events.json")


def load_truth(recording_path: str | Path) -> dict:
    path = truth_path(recording_path)
    if not path.exists():
        raise FileNotFoundError(f"{recording_path}: no truth file {path.name} beside it")
    return json.loads(path.read_text())


#: TUH-style names for the simulated files, so every run exercises the channel-name mapping.
_OLD_NAME = {new: old for old, new in {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}.items()}
SIMULATED_CHANNEL_NAMES = [f"EEG {_OLD_NAME.get(e, e).upper()}-REF" for e in TEN_TWENTY]

_STAGE_NAMES = {"awake": "Sleep stage W", "drowsy": "Sleep stage N1", "n2": "Sleep stage N2", "n3": "Sleep stage N3"}


def simulate_recording(
    path: str | Path,
    minutes: float,
    settings: SimulationSettings | None = None,
    subject_settings: BackgroundSettings | None = None,
    seed: int = 0,
) -> Path:
    """One recording with events and artifacts: ``path`` (EDF+) and its truth file beside it.

    The EDF+ holds the sleep stages as annotations (``Sleep stage W``...), as scored files do.
    """
    settings = settings or SimulationSettings()
    subject_settings = subject_settings or BackgroundSettings()
    path = Path(path)
    rng = np.random.default_rng(seed)
    duration = minutes * 60.0
    blocks = state_blocks(duration, settings.states)
    electrodes = list(TEN_TWENTY)
    data = _background_over_states(blocks, electrodes, settings.sfreq, subject_settings, settings.crossfade_s, rng)
    transients = schedule_transients(duration, blocks, electrodes, settings, rng)
    for transient in transients:
        transient.apply(data, electrodes, settings.sfreq)
    annotations = [(b["onset_s"], b["offset_s"] - b["onset_s"], _STAGE_NAMES[b["state"]]) for b in blocks]
    write_edf(path, data, settings.sfreq, SIMULATED_CHANNEL_NAMES, annotations=annotations)
    recording = path.stem
    truth = truth_record(recording, recording.split("_", 1)[0], duration, settings.sfreq, blocks, transients,
                         seed=seed, background=asdict(subject_settings), settings=asdict(settings))  # fmt: skip
    _write_truth(truth_path(path), truth)
    return path


def simulate_recordings(
    out_dir: str | Path,
    subjects: int = 2,
    minutes: float = 1.0,
    seed: int = 0,
    sfreq: float | None = None,
    settings: SimulationSettings | None = None,
    progress: bool = False,
    prefix: str = "sim",
) -> list[Path]:
    """Write ``subjects`` recordings as ``out_dir/<prefix><NNN>_r0.edf``, each with ``.events.json``.

    Every subject gets its own background (alpha frequency and amplitude, noise level) and seed;
    a recording visits the states in ``settings.states`` in order (awake -> drowsy -> N2 -> N3 by
    default). Channel names are written in the TUH style (``EEG FP1-REF``, old names ``T3``...)
    so that the channel-name mapping is exercised on every run. Same seed, same files. Subject
    ids are ``<prefix><NNN>``: give a held-out set its own prefix so no id is shared.
    """
    from tqdm.auto import tqdm

    settings = settings or SimulationSettings()
    if sfreq is not None:
        settings = replace(settings, sfreq=sfreq)
    rng = np.random.default_rng(seed)
    paths = []
    for index in tqdm(range(subjects), desc="simulate", unit="recording", disable=not progress):
        subject = BackgroundSettings(
            alpha_hz=float(rng.uniform(8.5, 11.5)),
            alpha_uv=float(rng.uniform(25, 50)),
            noise_uv=float(rng.uniform(5, 10)),
        )
        path = Path(out_dir) / f"{prefix}{index:03d}_r0.edf"
        paths.append(simulate_recording(path, minutes, settings, subject, seed=seed * 100003 + index))
    return paths


def inject_into_recording(
    source: str | Path,
    out_path: str | Path,
    *,
    state: str = "awake",
    settings: SimulationSettings | None = None,
    seed: int = 0,
    max_minutes: float | None = None,
    amplitude: float = 1.0,
    mirror: bool = False,
) -> Path:
    """Hybrid mode: the simulator's events and artifacts added to a real recording's background.

    The real recording is read with the project's reader (any supported format), its 10-20
    electrodes kept against their recorded reference, events placed only on electrodes present,
    and the result written as EDF+ with a truth file. ``state`` declares the background's
    vigilance state, which decides which sleep transients may be added (none when awake).
    A recording sampled below ``settings.sfreq`` (a 125 Hz BioSemi export) is first resampled to
    it, since a 20 ms spike needs the samples; faster recordings keep their rate.
    ``amplitude`` scales the background and ``mirror`` puts each electrode's signal under its
    homologue's name, as another head would give it (the awake stress variants of
    ``score_engine --real --stress [--mirror]``). The few real awake recordings then teach the
    detector more heads than they are: wide-model candidates trained so kept 4 false findings
    under stress instead of 16, none on the recording left out of training (README, detector).
    """
    from cerebragloss.signals.channels import homologue
    from cerebragloss.signals.filters import resample
    from cerebragloss.signals.io import read_recording

    settings = settings or SimulationSettings()
    if state not in STATES:
        raise ValueError(f"state {state!r}: choose one of {', '.join(STATES)}")
    recording = read_recording(source)
    electrodes = [e for e in recording.electrodes if e in TEN_TWENTY]
    if not electrodes:
        raise ValueError(f"{source}: no 10-20 electrodes to inject events into")
    rows = [recording.electrodes.index(e) for e in electrodes]
    data = recording.data[rows] * amplitude
    if mirror:
        electrodes = [homologue(e) for e in electrodes]
    sfreq = recording.sfreq
    if sfreq < settings.sfreq:
        data, sfreq = resample(data, sfreq, settings.sfreq), settings.sfreq
    if max_minutes is not None:
        data = data[:, : int(round(max_minutes * 60 * sfreq))]
    duration = data.shape[1] / sfreq
    local = replace(settings, sfreq=sfreq, states=[state])
    rng = np.random.default_rng(seed)
    blocks = state_blocks(duration, [state])
    transients = schedule_transients(duration, blocks, electrodes, local, rng)
    for transient in transients:
        transient.apply(data, electrodes, sfreq)
    out_path = Path(out_path)
    write_edf(out_path, data, sfreq, electrodes, annotations=[(0.0, duration, _STAGE_NAMES[state])])
    truth = truth_record(out_path.stem, recording.subject, duration, sfreq, blocks, transients,
                         seed=seed, background_source=Path(source).name, settings=asdict(local))  # fmt: skip
    _write_truth(truth_path(out_path), truth)
    return out_path
