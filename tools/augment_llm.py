"""Teacher-written instruction data: descriptions, complex MCQs and conversations (1:1:1), verified.

    python tools/augment_llm.py ANNOTATIONS_DIR --out DIR [--teacher gemini|offline] [--limit N]
                                [--cache DIR] [--config AUGMENT.yaml] [--set teacher.model=gemini-2.5-pro ...]

The teacher sees each page's caption and structured annotation, never the image. "gemini" needs
GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment; "offline" (the default) writes the same
three tasks from templates, labelled source "offline". Every reply is cached under DIR/teacher_cache
(or --cache): a rerun, or a run restarted after a crash, asks only for what is missing.
Writes DIR/<split>/ shard sets, DIR/rejects.jsonl (samples that failed verification, with reasons)
and DIR/report.json (requested/accepted/rejected/failed, retries, tokens, cost).
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.runtime import use_local_caches
from cerebragloss.settings import add_settings_options, settings_from_options, write_settings
from cerebragloss.synthesis.run import AugmentSettings, augment_with_teacher


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("annotations", help="folder written by tools/annotate.py")
    parser.add_argument("--out", required=True)
    parser.add_argument("--teacher", choices=("gemini", "offline"), default=None, help="overrides teacher.kind (default offline)")
    parser.add_argument("--limit", type=int, default=None, help="ask for at most N samples (pages), tasks kept 1:1:1")
    parser.add_argument("--cache", default=None, help="reply cache folder (default OUT/teacher_cache); share it between runs")
    add_settings_options(parser, "AugmentSettings (teacher, split, samples_per_shard, seed)", "teacher.concurrency=16")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = settings_from_options(parser, AugmentSettings, args)
    if args.teacher:
        settings.teacher.kind = args.teacher
    try:
        report = augment_with_teacher(args.annotations, args.out, settings, limit=args.limit, cache_dir=args.cache)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        parser.error(str(error))
    write_settings(settings, f"{args.out}/augment_settings.yaml")
    for key, reason in report["failed"].items():
        print(f"failed  {key}: {reason}", file=sys.stderr)
    tasks = ", ".join(f"{task} {count}" for task, count in sorted(report["tasks"].items()))
    print(report["teacher_table"])
    print(f"requested {report['requested']}: accepted {report['accepted']} ({tasks}), rejected {report['rejected']} "
          f"(rate {report['rejection_rate']:.1%}), failed {len(report['failed'])} -> {args.out}")  # fmt: skip
    if report["rejection_reasons"]:
        print("rejections: " + "; ".join(f"{reason} x{count}" for reason, count in report["rejection_reasons"].items()))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
