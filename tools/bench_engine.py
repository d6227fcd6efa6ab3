"""Benchmark: engine pages per second per core, without and with the waveform detector.

    python tools/bench_engine.py [--subjects N] [--minutes M] [--detector-pages P]

Simulates recordings, then times the whole engine per page in one process on one core: read the
EDF, resample, filter, montage (double banana), render and PNG-encode, the recording context
(sleep stages from the hypnogram, spindles/K-complexes/slow waves by YASA over the recording),
background, artifacts and cleaning (``annotate``); then the same with the default detector added
(batches of 16 pages). Prints a table with each stage's share. Run by ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: the numbers are per core
os.environ.setdefault("MKL_NUM_THREADS", "1")

from cerebragloss.runtime import use_local_caches  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--detector-pages", type=int, default=64, help="pages timed with the detector (slower)")
    args = parser.parse_args(argv)
    use_local_caches()

    import torch

    torch.set_num_threads(1)
    import yasa  # noqa: F401 - imported before timing: its import is a once-per-process cost

    from cerebragloss.detection.detector import DEFAULT_WEIGHTS, WaveformDetector
    from cerebragloss.engine.annotate import annotate
    from cerebragloss.engine.sleep import recording_contexts
    from cerebragloss.render import render_segment
    from cerebragloss.signals import read_recording, segments_from_recording
    from cerebragloss.signals.simulate import simulate_recordings

    timings = {"read": 0.0, "filter + montage + cut": 0.0, "render + PNG": 0.0, "sleep context (YASA)": 0.0, "annotate": 0.0}
    pages, contexts = [], []
    with tempfile.TemporaryDirectory() as scratch:
        recordings = simulate_recordings(Path(scratch), args.subjects, args.minutes, seed=1)
        for path in recordings:
            started = time.perf_counter()
            recording = read_recording(path)
            timings["read"] += time.perf_counter() - started
            started = time.perf_counter()
            segments = list(segments_from_recording(recording, "longitudinal_bipolar"))
            timings["filter + montage + cut"] += time.perf_counter() - started
            started = time.perf_counter()
            recording_context = recording_contexts(recording, segments)
            timings["sleep context (YASA)"] += time.perf_counter() - started
            for segment, context in zip(segments, recording_context, strict=True):
                started = time.perf_counter()
                page = render_segment(segment)
                page.png_bytes()
                timings["render + PNG"] += time.perf_counter() - started
                started = time.perf_counter()
                annotate(segment, page, context=context)
                timings["annotate"] += time.perf_counter() - started
                pages.append(page)
                contexts.append(context)
    total = sum(timings.values())
    count = len(pages)

    detector = WaveformDetector(DEFAULT_WEIGHTS)
    subset = pages[: args.detector_pages]
    detector.detect(subset[:2])  # warm-up (first call builds the model's fused layers)
    started = time.perf_counter()
    found = detector.detect(subset)
    for page, events, context in zip(subset, found, contexts[: len(subset)], strict=True):
        annotate(page.segment, page, events, context=context)
    detector_seconds = (time.perf_counter() - started) / len(subset)
    # The second look (detection.detector.detect_recording): the same stretch cut 5 s later, drawn
    # and detected again down to its floor; a page drawn again costs what a shifted page does.
    started = time.perf_counter()
    detector.detect([render_segment(page.segment) for page in subset], confidence=detector.settings.second_look_floor)
    second_look_seconds = (time.perf_counter() - started) / len(subset)
    engine_seconds = total / count

    print(f"{count} pages (18-channel double banana, 200 Hz, 10 s), one core\n")
    print(f"| {'stage':<24} | {'ms/page':>8} | {'share':>6} |")
    print(f"|{'-' * 26}|{'-' * 10}|{'-' * 8}|")
    for stage, seconds in timings.items():
        print(f"| {stage:<24} | {seconds / count * 1000:>8.2f} | {seconds / total:>6.1%} |")
    print(f"\n| {'engine':<32} | {'pages/s/core':>12} | {'vs without':>10} |")
    print(f"|{'-' * 34}|{'-' * 14}|{'-' * 12}|")
    print(f"| {'without detector':<32} | {1 / engine_seconds:>12.1f} | {'1.00x':>10} |")
    with_detector = engine_seconds + detector_seconds
    print(f"| {'with detector (CPU, batch 16)':<32} | {1 / with_detector:>12.1f} | {engine_seconds / with_detector:>9.2f}x |")
    with_second_look = with_detector + second_look_seconds
    print(f"| {'with detector and second look':<32} | {1 / with_second_look:>12.1f} | {engine_seconds / with_second_look:>9.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
