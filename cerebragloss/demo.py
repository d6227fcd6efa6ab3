"""The main job on built-in defaults: what ``make demo`` runs.

Today it covers the foundation and the detector: simulate recordings (with truth files), read them
back through the EDF reader (TUH-style channel names), render pages in every montage, run the
default waveform detector on the double-banana pages and score it against the simulator's truth.
Later stages (annotation, synthesis, training, evaluation) extend this function.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from cerebragloss.render import render_recordings
from cerebragloss.settings import PageSettings
from cerebragloss.signals.simulate import simulate_recordings


def detect_and_score(recordings: list[Path], out_dir: Path, weights: Path, settings: PageSettings) -> dict:
    """Run the detector over each recording's double-banana pages, write the detections to
    ``out_dir/detections.jsonl`` and score them against the truth files (event level)."""
    from cerebragloss.detection.evaluate import score_events
    from cerebragloss.detection.truth import truth_boxes
    from cerebragloss.engine.detector import WaveformDetector
    from cerebragloss.render import render_segment
    from cerebragloss.signals import read_recording, segments_from_recording
    from cerebragloss.signals.simulate import load_truth

    detector = WaveformDetector(weights)
    truth_pages, found_pages, lines = [], [], []
    for path in recordings:
        events = load_truth(path)["events"]
        recording = read_recording(path)
        pages = [render_segment(s, settings.render) for s in segments_from_recording(recording, "longitudinal_bipolar", filters=settings.filters)]
        for page, found in zip(pages, detector.detect(pages), strict=True):
            truth = truth_boxes(events, page.layout, page.segment.start_s)
            truth_pages.append([{"class": b.label, "start_s": b.start_s, "end_s": b.end_s} for b in truth])
            found_pages.append(found)
            lines.append(json.dumps({"page": page.segment.key, "start_s": page.segment.start_s, "events": found}))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "detections.jsonl").write_text("".join(line + "\n" for line in lines))
    return score_events(truth_pages, found_pages)


def run_demo(out_dir: str | Path = "demo_output", subjects: int = 3, minutes: float = 1.0, seed: int = 0) -> dict:
    from cerebragloss.engine.detector import DEFAULT_WEIGHTS

    out_dir = Path(out_dir)
    print(f"[1/3] simulating {subjects} recordings x {minutes:g} min (events, artifacts, sleep stages) -> {out_dir / 'recordings'}")
    recordings = simulate_recordings(out_dir / "recordings", subjects=subjects, minutes=minutes, seed=seed)

    print(f"[2/3] rendering pages in every montage -> {out_dir / 'pages'}")
    settings = PageSettings()
    started = time.perf_counter()
    report = render_recordings(recordings, out_dir / "pages", montage="all", settings=settings, progress=False)
    elapsed = time.perf_counter() - started

    total = sum(report.pages.values())
    print()
    print(f"{'recording':<14} {'pages':>6}  details")
    for path, count in report.pages.items():
        print(f"{Path(path).stem:<14} {count:>6}  {report.notes[path][0]}")
    for path, problem in report.errors.items():
        print(f"{Path(path).stem:<14} {'error':>6}  {problem}")
    print()
    print(
        f"{total} pages of {settings.render.width}x{settings.render.height} px "
        f"({settings.render.visual_tokens} Qwen2.5-VL visual tokens each) "
        f"in {elapsed:.1f} s, including reading and filtering"
    )
    montage_dirs = sorted(p.name for p in (out_dir / "pages").iterdir() if p.is_dir())
    print(f"montages: {', '.join(montage_dirs)}; page metadata in {out_dir / 'pages' / '<montage>' / 'pages.jsonl'}")
    example = next((out_dir / "pages" / "longitudinal_bipolar").glob("*.png"), None)
    if example:
        print(f"look at one: {example}")

    print(f"\n[3/3] detecting waveforms on the double-banana pages with {DEFAULT_WEIGHTS.name}")
    scores = detect_and_score(recordings, out_dir / "detections", DEFAULT_WEIGHTS, settings)
    print(f"{'class':<22} {'truth':>6} {'found':>6} {'F1':>6}")
    for label, score in scores.items():
        print(f"{label:<22} {score.true_positives + score.false_negatives:>6} {score.true_positives + score.false_positives:>6} {score.f1:>6.2f}")
    print(f"detections per page: {out_dir / 'detections' / 'detections.jsonl'} (event level, time IoU >= 0.2; truth in recordings/*.events.json)")
    return {"pages": total, "errors": report.errors, "seconds": elapsed, "detection": scores}
