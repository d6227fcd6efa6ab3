"""Fault drill for the LLM teacher: the real google-genai client against a faulty local Gemini.

    python tools/teacher_drill.py --out DIR [--annotations DIR] [--subjects N] [--kill-after K]
                                  [--faults 429=0.15 500=0.1 503=0.05 delay=0.05 malformed=0.1]

Without --annotations, simulates N subjects x 1 min and annotates them (default detector) first.
Then runs tools/augment_llm.py --teacher gemini against a local fake server that injects the
faults, SIGKILLs it after K cached replies, reruns it, and prints what happened: requests, faults,
retries, samples in the shards, lost (must be 0) and duplicated (must be 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cerebragloss.runtime import use_local_caches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--annotations", default=None, help="annotation folder (default: simulate and annotate)")
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--kill-after", type=int, default=40, help="SIGKILL the first run once this many replies are cached")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--faults", nargs="*", default=["429=0.15", "500=0.1", "503=0.05", "delay=0.05", "malformed=0.1"])
    args = parser.parse_args(argv)

    use_local_caches()
    from cerebragloss.synthesis.drill import teacher_fault_drill

    out = Path(args.out)
    annotations = args.annotations
    if annotations is None:
        from cerebragloss.detection.detector import DEFAULT_WEIGHTS
        from cerebragloss.engine.run import annotate_recordings
        from cerebragloss.signals.simulate import simulate_recordings

        recordings = simulate_recordings(out / "recordings", subjects=args.subjects, minutes=1.0, seed=7)
        annotate_recordings(recordings, out / "annotations", detector_weights=DEFAULT_WEIGHTS, progress=False)
        annotations = out / "annotations"
    faults = {name: float(rate) for name, rate in (item.split("=", 1) for item in args.faults)}
    result = teacher_fault_drill(annotations, out / "teacher", faults=faults, limit=args.limit, kill_after=args.kill_after)
    rows = [
        ("samples requested", result["requested"]),
        ("first run SIGKILLed midway", result["killed_midway"]),
        ("replies cached when killed", result["cached_when_killed"]),
        ("server requests before the kill", result["requests_before_kill"]),
        ("server requests in all", result["requests_total"]),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(result["faults_injected"].items())) or "none"),
        ("retries after the restart", ", ".join(f"{k} {v}" for k, v in sorted(result["retries_after_restart"].items())) or "none"),
        ("replies from cache after the restart", result["from_cache_after_restart"]),
        ("replies asked after the restart", result["asked_after_restart"]),
        ("samples in shards", result["in_shards"]),
        ("rejected by verification", result["rejected"]),
        ("failed after all attempts", result["failed"]),
        ("samples lost", result["lost"]),
        ("duplicate samples", result["duplicates"]),
        ("replies paid twice (in flight at the kill)", result["answered_twice_by_server"]),
        ("shard/manifest disagreements", len(result["shard_problems"])),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 and not result["shard_problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
