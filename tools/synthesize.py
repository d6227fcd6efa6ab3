"""Rule-based instruction data (captions, multiple-choice and binary questions) from annotated pages.

    python tools/synthesize.py ANNOTATIONS_DIR --out DIR [--config SYNTHESIS.yaml] [--set rules.mcq_per_page=3 ...]

ANNOTATIONS_DIR is the output of tools/annotate.py. Writes DIR/train, DIR/val, DIR/bench (webdataset
shard sets, split by subject, each with manifest.json) and DIR/report.json (counts, pages skipped
and why, settings). Only facts that survived the engine's cleaning are stated.
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.runtime import use_local_caches
from cerebragloss.settings import add_settings_options, settings_from_options, write_settings
from cerebragloss.synthesis.run import SynthesisSettings, synthesize_rules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("annotations", help="folder written by tools/annotate.py")
    parser.add_argument("--out", required=True)
    add_settings_options(parser, "SynthesisSettings (rules, split, samples_per_shard)", "rules.mcq_per_page=3 split.val=0.2")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = settings_from_options(parser, SynthesisSettings, args)
    try:
        report = synthesize_rules(args.annotations, args.out, settings)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    write_settings(settings, f"{args.out}/synthesis_settings.yaml")
    for key, reason in report["pages_skipped"].items():
        print(f"skipped {key}: {reason}", file=sys.stderr)
    tasks = ", ".join(f"{task} {count}" for task, count in sorted(report["tasks"].items()))
    splits = ", ".join(f"{split} {count}" for split, count in report["samples"].items())
    print(f"{report['pages']} pages -> {sum(report['samples'].values())} rule samples ({tasks}); by split: {splits} -> {args.out}")
    return 1 if report["pages_skipped"] else 0


if __name__ == "__main__":
    sys.exit(main())
