"""Build a CerebraGloss-Bench-style benchmark from the held-out (bench-split) subjects of annotated pages.

    python tools/make_bench.py ANNOTATIONS_DIR --out DIR [--teacher offline|gemini] [--set split.bench=0.2 ...]

Per page of a held-out subject: reference description, complex MCQ and conversation (teacher,
verified), rule MCQs, and channel-level boxes (simulator truth where a truth file sits beside the
recording, else the engine's cleaned detections). Writes DIR/bench-*.tar, DIR/manifest.json and
DIR/report.json. Use the same split settings as tools/synthesize.py so that no bench subject was
trained on; evaluate with `cerebragloss test --config conf/test.yaml --data.init_args.test='[{path: DIR}]'`.
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.runtime import use_local_caches
from cerebragloss.settings import add_settings_options, settings_from_options


def main(argv: list[str] | None = None) -> int:
    from cerebragloss.evaluation.bench import BenchSettings, make_bench

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("annotations", help="folder written by tools/annotate.py")
    parser.add_argument("--out", required=True)
    parser.add_argument("--teacher", choices=("gemini", "offline"), default=None)
    add_settings_options(parser, "BenchSettings (split, teacher, rule_mcq_per_page, samples_per_shard)", "split.bench=0.2")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = settings_from_options(parser, BenchSettings, args)
    if args.teacher:
        settings.teacher.kind = args.teacher
    try:
        report = make_bench(args.annotations, args.out, settings)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        parser.error(str(error))
    tasks = ", ".join(f"{task} {count}" for task, count in sorted(report["tasks"].items()))
    print(f"{report['pages']} pages of {len(report['subjects'])} held-out subjects -> {report['samples']} samples ({tasks}); "
          f"boxes from {'/'.join(report['boxes_source'])}; rejected {len(report['rejected'])} -> {args.out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
