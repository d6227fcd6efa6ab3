"""Benchmark: synthesis throughput (samples per second, one core) from annotated pages to shards.

    python tools/bench_synthesis.py [--subjects N] [--minutes M]

Simulates and annotates recordings (default detector), then times, over the same pages:
rule samples in memory (the baseline), verification of those samples, the offline teacher
(prompt, reply, sample, verification), and the whole ``synthesize_rules`` run (read annotations
and page PNGs, make samples, write webdataset shards, write and check manifests). Prints a table
with each row's rate relative to the in-memory baseline. Run by ``make bench``.
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
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=2.0)
    args = parser.parse_args(argv)
    use_local_caches()

    from cerebragloss.detection.detector import DEFAULT_WEIGHTS
    from cerebragloss.engine.run import annotate_recordings
    from cerebragloss.signals.simulate import simulate_recordings
    from cerebragloss.synthesis.rules import rule_samples
    from cerebragloss.synthesis.run import load_annotations, synthesize_rules
    from cerebragloss.synthesis.teacher import (
        TEACHER_TASKS,
        OfflineTeacher,
        build_request,
        sample_from_reply,
    )
    from cerebragloss.synthesis.verify import verify_sample

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        recordings = simulate_recordings(scratch / "recordings", args.subjects, args.minutes, seed=2)
        annotate_recordings(recordings, scratch / "annotations", detector_weights=DEFAULT_WEIGHTS, progress=False)
        annotations = load_annotations(scratch / "annotations")
        rows = []

        started = time.perf_counter()
        samples = [s for a in annotations for s in rule_samples(a)]
        rows.append(("rule samples, in memory (baseline)", len(samples), time.perf_counter() - started))

        started = time.perf_counter()
        rejected = sum(bool(verify_sample(s)) for s in samples)
        rows.append(("verification of the rule samples", len(samples), time.perf_counter() - started))

        teacher = OfflineTeacher()
        started = time.perf_counter()
        for index, annotation in enumerate(annotations):
            request = build_request(annotation, TEACHER_TASKS[index % 3])
            verify_sample(sample_from_reply(request, teacher.ask(request).reply, annotation, "offline", "offline"))
        rows.append(("offline teacher + verification", len(annotations), time.perf_counter() - started))

        started = time.perf_counter()
        report = synthesize_rules(scratch / "annotations", scratch / "shards", progress=False)
        written = sum(report["samples"].values())
        rows.append(("synthesize_rules: read, samples, shards, manifests", written, time.perf_counter() - started))
        size = sum(p.stat().st_size for p in (scratch / "shards").rglob("*.tar"))

    baseline = rows[0][1] / rows[0][2]
    print(f"{len(annotations)} annotated pages ({args.subjects} subjects x {args.minutes:g} min), one core; "
          f"{rejected} rule samples rejected by verification\n")  # fmt: skip
    print(f"| {'step':<52} | {'samples':>7} | {'samples/s':>9} | {'vs baseline':>11} |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 11}|{'-' * 13}|")
    for name, count, seconds in rows:
        rate = count / seconds
        print(f"| {name:<52} | {count:>7} | {rate:>9.0f} | {rate / baseline:>10.2f}x |")
    print(f"\nshards: {size / written / 1024:.0f} KiB per sample (the page PNG is stored with every sample of the page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
