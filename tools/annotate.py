"""Annotate every page of EEG recordings (background, artifacts, detector events) into SegmentAnnotations.

    python tools/annotate.py INPUT... --out DIR [--detector WEIGHTS|default] [--workers N] [--montage auto|NAME]
                             [--num-shards K --shard-index I] [--config ANNOTATE.yaml] [--set KEY=VALUE ...]

INPUT: files, folders (searched recursively) or glob patterns. Writes DIR/pages/*.png,
DIR/annotations.jsonl (one SegmentAnnotation per page) and DIR/summary.json (every input: pages
done, pages skipped with reasons, or the error). Rerunning into the same DIR skips finished
recordings. Without --detector, events are not detected and each annotation says so;
"--detector default" uses the committed detector trained on simulated pages. The default montage,
auto, is the best each recording allows (double banana, else common average, else as recorded);
the choice and its reason are printed and kept in each recording's summary.
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.engine.run import AnnotateSettings, annotate_recordings
from cerebragloss.runtime import use_local_caches
from cerebragloss.settings import add_settings_options, settings_from_options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="files, folders or glob patterns")
    parser.add_argument("--out", required=True)
    parser.add_argument("--detector", default=None, help="detector weights (.pt), or 'default'")
    parser.add_argument("--workers", type=int, default=1, help="processes, one recording each at a time")
    parser.add_argument("--montage", default=None, help="page montage: auto (default: the best each recording allows) or a name")
    parser.add_argument("--num-shards", type=int, default=1, help="split the sorted file list into K shards ...")
    parser.add_argument("--shard-index", type=int, default=0, help="... and annotate shard I (0-based)")
    add_settings_options(parser, "AnnotateSettings (montage, page, engine, detector)", "engine.background.asymmetry_ratio=0.6")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = settings_from_options(parser, AnnotateSettings, args)
    if args.montage:
        settings.montage = args.montage
    weights = args.detector
    if weights == "default":
        from cerebragloss.detection.detector import DEFAULT_WEIGHTS

        weights = DEFAULT_WEIGHTS
    try:
        summary = annotate_recordings(
            args.inputs, args.out, detector_weights=weights, workers=args.workers,
            num_shards=args.num_shards, shard_index=args.shard_index, settings=settings,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    for item in summary["files"]:
        if item["status"] == "done":
            resumed = " (finished earlier)" if item.get("resumed") else ""
            montage = f"; montage {item['montage']} ({item['montage_reason']})" if "montage" in item else ""
            print(f"ok     {item['file']}: {item['pages']} pages{resumed}{montage}")
        else:
            print(f"error  {item['file']}: {item['error']}", file=sys.stderr)
    for path, reason in summary["ignored"].items():
        print(f"ignored {path}: {reason}")
    for problem in summary["inputs_not_found"]:
        print(f"error  {problem}", file=sys.stderr)
    print(f"{summary['pages']} pages annotated, {summary['errors']} recordings failed -> {args.out}")
    return 1 if summary["errors"] or summary["inputs_not_found"] else 0


if __name__ == "__main__":
    sys.exit(main())
