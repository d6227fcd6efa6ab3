"""Run the main job on built-in defaults (simulated EEG): ``python tools/demo.py [--out DIR]``."""

from __future__ import annotations

import argparse
import sys

from cerebragloss.runtime import use_local_caches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    use_local_caches()
    from cerebragloss.demo import run_demo

    result = run_demo(args.out, subjects=args.subjects, minutes=args.minutes, seed=args.seed)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
