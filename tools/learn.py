"""Does the framework teach a model to read a page? The learning table (seeing vs image-blind),
the paper's ablation table in miniature and the stage-1 fraction sweep, on simulated EEG.

    python tools/learn.py [--out learn_output] [--set subjects=48 minutes=3 stage2_samples=3200 ...]
    python tools/learn.py --ablations [--out learn_output]     # the five rows of the paper's ablation table
    python tools/learn.py --sweep [--out learn_output]         # conf/sweeps/stage1_fraction.yaml's grid, run locally
    python tools/learn.py --part seeing & python tools/learn.py --part blind   # parts side by side, then without --part

Simulates subjects, annotates, synthesizes, trains stage 0 (vision pretraining) -> stage 1 ->
stage 2 with the `small` preset, tests on held-out subjects through `cerebragloss test`, once on
the pages and once with every page blank; prints one table and writes OUT/learning.json
(ablations: OUT/ablations.json, sweep: OUT/sweep.json). Finished stages are reused on a rerun.
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.learning import (
    LearnSettings,
    run_ablations,
    run_fraction_sweep,
    run_learning,
    run_part,
)
from cerebragloss.runtime import use_local_caches
from cerebragloss.settings import add_settings_options, settings_from_options, write_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="learn_output")
    parser.add_argument("--ablations", action="store_true", help="run the ablation rows (after or instead of the learning table)")
    parser.add_argument("--sweep", action="store_true", help="run the stage-1 fraction sweep's grid locally")
    parser.add_argument("--part", help="run one part only (seeing, blind, an ablation row's folder, sweep_<fraction>), to run parts side by side")
    add_settings_options(parser, "LearnSettings", "subjects=24 minutes=2 stage2_samples=1600")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = settings_from_options(parser, LearnSettings, args)
    if not args.part:
        write_settings(settings, f"{args.out}/learn_settings.yaml")
    if args.part:
        run_part(args.out, settings, args.part)
        return 0
    if args.ablations:
        run_ablations(args.out, settings)
    if args.sweep:
        run_fraction_sweep(args.out, settings)
    if not (args.ablations or args.sweep):
        run_learning(args.out, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
