"""Score the engine's background and artifact measures against the simulator's truth.

    python tools/score_engine.py --subjects N --minutes M --seed S [--montage NAME] [--out DIR]
    python tools/score_engine.py --recordings DIR                  # simulated recordings made earlier
    python tools/score_engine.py --real ../shared/data/eeg         # real recordings (see below)
    python tools/score_engine.py --real ../shared/data/eeg --plant-steps 40   # electrode steps planted in an awake one
    python tools/score_engine.py --real ../shared/data/eeg --plant-steps 40 --decay 0.2   # pops instead
    python tools/score_engine.py --real ../shared/data/eeg --stress   # awake ones as other heads (amplitude x tempo) and paged from 2.5/5/7.5 s
    python tools/score_engine.py --real ../shared/data/eeg --stress --mirror   # ...mirrored left-right
    python tools/score_engine.py --real ../shared/data/eeg --sleep-stress   # scored sleep ones as other recordings
    python tools/score_engine.py --discharges [--detector W.pt] [--subjects 12 --minutes 1 --seed S | --recordings DIR]

Simulates recordings with events and artifacts (or uses --recordings), runs the engine on every
page and prints: amplitude and dominant frequency against the same measures on the clean
background, the posterior dominant rhythm against the simulated alpha, and per artifact type
precision, recall and F1 against the truth spans.

With --real DIR, scores the engine (default detector) on real recordings instead
(``cerebragloss.evaluation.engine_real``): spindle/K-complex P/R/F1 of the engine and of YASA's
defaults on every recording with scored events, epileptiform findings per minute per montage on
the healthy awake recordings, and the PDR per recording against a Welch reference. --stress plays
each awake recording as other heads would (amplitude x0.6-1.6, tempo x0.85-1.15) and paged from
2.5, 5 and 7.5 s in (see ``engine_real.STRESS_VARIANTS``), and counts the false epileptiform findings per variant and montage;
with --mirror each recording is first mirrored left-right (``engine_real.mirrored``), a check of
rules set on the recordings as they are.
--sleep-stress scores each scored sleep recording as other recordings would be (sampled at 50-256
Hz, amplitude x0.5/x2, 10 uV of 50/60 Hz mains, 15/60 uV of ECG without and with an ECG channel,
and 2 min of each awake recording with its electrodes on either side; ``engine_real.sleep_variants``),
the engine's and YASA's defaults alike.
--discharges counts, in each montage, the simulated epileptiform discharges the engine reports
after cleaning (awake recordings with 1.5 discharges and 1.5 short muscle bursts per page, or
--recordings): what a cleaning rule or a detector set against the real awake check costs in found
discharges (``engine_scores.score_discharges``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from cerebragloss.evaluation.engine_scores import (
    engine_table,
    score_engine,
    score_staging,
    staging_table,
)
from cerebragloss.runtime import use_local_caches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", help="folder of simulated recordings with .events.json truth files")
    parser.add_argument("--subjects", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--artifacts-per-page", type=float, default=1.5)
    parser.add_argument("--montage", default="longitudinal_bipolar")
    parser.add_argument("--out", help="keep the simulated recordings here (default: a temporary folder)")
    parser.add_argument("--staging", action="store_true", help="also score the sleep-staging classifier on the simulated recordings (>= 5 min each)")
    parser.add_argument("--real", help="folder of real recordings (e.g. ../shared/data/eeg)")
    parser.add_argument("--detector", help="detector weights for --real and --discharges (default: the packaged ones; 'none': without)")
    parser.add_argument("--confidence", type=float, help="the detector's confidence threshold (default: DetectorSettings.confidence)")
    parser.add_argument("--discharges", action="store_true", help="instead, simulated awake discharges found after cleaning, per montage")
    parser.add_argument("--plant-steps", type=float, metavar="UV", help="with --real: instead, plant UV electrode steps on each electrode of --plant-in")
    parser.add_argument("--plant-in", default="eegmat/Subject00_1.edf", help="awake recording under --real for --plant-steps")
    parser.add_argument("--decay", type=float, metavar="S", help="with --plant-steps: pops that decay with this time constant instead of steps")
    parser.add_argument("--stress", action="store_true", help="with --real: instead, false alarms on amplitude x tempo variants and page offsets of the awake recordings")
    parser.add_argument("--mirror", action="store_true",
                        help="with --stress: each awake recording mirrored left-right first (the rules meet them as new heads)")
    parser.add_argument("--sleep-stress", action="store_true",
                        help="with --real: instead, spindle/K-complex scores of the scored sleep recordings resampled, scaled, with mains, and between awake EEG")  # fmt: skip
    args = parser.parse_args(argv)
    if args.mirror and not (args.real and args.stress):
        parser.error("--mirror is a variant of --real DIR --stress")

    use_local_caches()
    if args.discharges:
        return discharges(args)
    if args.real:
        from cerebragloss.evaluation.engine_real import real_table, score_real

        detector = None if args.detector == "none" else load_detector(args)
        if args.plant_steps:
            from cerebragloss.evaluation.engine_real import planted_steps, planted_steps_table

            path = Path(args.real) / args.plant_in
            rows = planted_steps(path, args.plant_steps, detector, decay_s=args.decay)
            print(planted_steps_table(rows, args.plant_steps, path.stem, args.decay))
            return 0
        if args.stress:
            from cerebragloss.evaluation.engine_real import (
                awake_recordings,
                stress_table,
                stressed_awake_false_alarms,
            )

            print(stress_table(stressed_awake_false_alarms(awake_recordings(args.real), detector=detector, mirror=args.mirror)))
            return 0
        if args.sleep_stress:
            from cerebragloss.evaluation.engine_real import (
                sleep_stress_table,
                stressed_sleep_scores,
            )

            print(sleep_stress_table(stressed_sleep_scores(args.real, detector)))
            return 0
        print(real_table(score_real(args.real, detector)))
        return 0
    if args.recordings:
        recordings = sorted(Path(args.recordings).glob("*.edf"))
        if not recordings:
            parser.error(f"{args.recordings}: no .edf recordings")
        print(engine_table(score_engine(recordings, args.montage)))
        if args.staging:
            print(staging_table(score_staging(recordings)))
        return 0
    from cerebragloss.signals.simulate import SimulationSettings, simulate_recordings

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.out or scratch)
        settings = SimulationSettings(artifacts_per_page=args.artifacts_per_page)
        recordings = simulate_recordings(folder, args.subjects, args.minutes, args.seed, settings=settings, progress=True, prefix="score")
        print(engine_table(score_engine(recordings, args.montage)))
        if args.staging:
            print(staging_table(score_staging(recordings)))
    return 0


def load_detector(args: argparse.Namespace):
    from cerebragloss.detection.detector import DEFAULT_WEIGHTS, DetectorSettings, WaveformDetector

    settings = DetectorSettings() if args.confidence is None else DetectorSettings(confidence=args.confidence)
    return WaveformDetector(args.detector or DEFAULT_WEIGHTS, settings)


def discharges(args: argparse.Namespace) -> int:
    from cerebragloss.evaluation.engine_scores import discharge_table, score_discharges
    from cerebragloss.labels import EPILEPTIFORM_CLASSES
    from cerebragloss.signals.simulate import SimulationSettings, simulate_recordings

    detector = load_detector(args)
    if args.recordings:
        print(discharge_table(score_discharges(sorted(Path(args.recordings).glob("*.edf")), detector)))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        settings = SimulationSettings(states=["awake"], events_per_page=1.5, classes=list(EPILEPTIFORM_CLASSES), muscle_bursts_per_page=1.5)
        recordings = simulate_recordings(Path(args.out or scratch), args.subjects, args.minutes, args.seed, settings=settings,
                                         progress=True, prefix="discharges")  # fmt: skip
        print(f"detector: {detector.weights} at confidence {detector.settings.confidence}")
        print(discharge_table(score_discharges(recordings, detector)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
