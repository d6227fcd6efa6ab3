"""Render labelled recordings into a YOLO dataset for the waveform detector, split by subject.

    python tools/detector_dataset.py RECORDING... --out DIR [--labels LABELS.csv] [--montage NAME]
                                     [--val-fraction F] [--seed S] [--config PAGE_SETTINGS.yaml] [--set ...]
                                     [--vary [--variants N] [--variants-per-page M] [--electrode-counts 1,4,8,19] [--grid] [--random-offsets]]
    python tools/detector_dataset.py RECORDINGS_DIR --audit DATASET_DIR [--imgsz 640]
                                     # label audit: box sizes at the network size, invisible boxes
    python tools/detector_dataset.py RECORDINGS_DIR... --relabel DATASET_DIR... --out DIR [--min-background-ratio R]
                                     # the same pages (images linked) with boxes drawn again under the
                                     # label rule: no re-rendering; several datasets merge into one

Labels: a simulator truth file beside each recording (<stem>.events.json), else rows of
--labels (CSV: recording, channels, start_s, end_s, class), else the recording's EDF+
annotations naming a waveform class ("spike: C3 C4"). Writes DIR/images, DIR/labels,
DIR/data.yaml, DIR/boxes.jsonl and DIR/dataset.json; prints boxes per class and split.
--val-fraction 1 makes a held-out test set. --vary draws each recording's pages in varied
montages, electrode subsets and sensitivities (PageVariety); --grid draws every (montage, electrode
count) pair a recording allows, for a held-out table by montage and channel count;
--random-offsets cuts each variant's pages from a random start in the first page (not with --grid).
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.detection.dataset import PageVariety, write_yolo_dataset
from cerebragloss.detection.truth import BoxSettings
from cerebragloss.runtime import use_local_caches
from cerebragloss.settings import PageSettings, add_settings_options, settings_from_options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recordings", nargs="+", help="files, folders or glob patterns")
    parser.add_argument("--out", help="dataset folder to write")
    parser.add_argument("--audit", metavar="DATASET_DIR", help="audit this dataset's boxes against the truth of RECORDINGS_DIR instead")
    parser.add_argument("--imgsz", type=int, default=640, help="network input size the audit measures boxes at")
    parser.add_argument("--relabel", nargs="+", metavar="DATASET_DIR",
                        help="draw these datasets' boxes again from the truth in RECORDINGS (folders) into --out")
    parser.add_argument("--min-background-ratio", type=float, default=BoxSettings.min_background_ratio,
                        help="label an event's channel only where it reaches this share of the background's peak-to-peak "
                        f"(default {BoxSettings.min_background_ratio:g}; BoxSettings)")  # fmt: skip
    parser.add_argument("--labels", default=None, help="expert labels CSV: recording, channels, start_s, end_s, class")
    parser.add_argument("--montage", default="longitudinal_bipolar")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of subjects held out for validation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subject split (and of the page variants, unless --variety-seed)")
    parser.add_argument("--variety-seed", type=int, default=None,
                        help="seed of the page variants alone: another draw of montages, electrodes and sensitivities with the same split")
    parser.add_argument("--vary", action="store_true", help="vary montage, electrodes and sensitivity per page")
    parser.add_argument("--variants", type=int, default=PageVariety.variants, help="page variants per recording (--vary)")
    parser.add_argument("--variants-per-page", type=int, default=1, help="variants each page is drawn in (--vary)")
    parser.add_argument("--electrode-counts", default=None, help="comma-separated electrode counts to draw from (--vary)")
    parser.add_argument("--grid", action="store_true", help="every (montage, electrode count) a recording allows (--vary)")
    parser.add_argument("--random-offsets", action="store_true",
                        help="cut each variant's pages from a random start within the first page (--vary, not --grid)")
    add_settings_options(parser, "page settings (as tools/render.py)", "filters.notch_hz=50")
    args = parser.parse_args(argv)
    if args.random_offsets and args.grid:
        parser.error("--random-offsets would move the --grid pages, whose cells runs are compared on")

    use_local_caches()
    if args.audit:
        from cerebragloss.detection.audit import audit_labels

        print(audit_labels(args.audit, args.recordings[0], imgsz=args.imgsz).table())
        return 0
    if not args.out:
        parser.error("give --out (or --audit DATASET_DIR)")
    box_settings = BoxSettings(min_background_ratio=args.min_background_ratio)
    if args.relabel:
        from cerebragloss.detection.dataset import relabel_dataset

        report = relabel_dataset(args.relabel, args.recordings, args.out, box_settings=box_settings, labels_csv=args.labels)
        for split, counts in report["boxes"].items():
            print(f"{split}: {report['pages'][split]} pages, {sum(counts.values())} boxes {dict(sorted(counts.items()))}")
        return 0
    settings = settings_from_options(parser, PageSettings, args)
    variety = None
    if args.vary or args.grid:
        variety = PageVariety(variants=args.variants, variants_per_page=args.variants_per_page, grid=args.grid,
                              seed=args.seed if args.variety_seed is None else args.variety_seed, random_offsets=args.random_offsets)  # fmt: skip
        if args.electrode_counts:
            variety.electrode_counts = [int(k) for k in args.electrode_counts.split(",")]
    report = write_yolo_dataset(
        args.recordings, args.out, labels_csv=args.labels, montage=args.montage,
        val_fraction=args.val_fraction, seed=args.seed, page_settings=settings, variety=variety, box_settings=box_settings,
    )  # fmt: skip
    print(report.table())
    for path, reason in report.skipped.items():
        print(f"skipped  {path}: {reason}", file=sys.stderr)
    for problem in report.problems:
        print(f"problem  {problem}", file=sys.stderr)
    val_subjects = sorted(s for s, part in report.subjects.items() if part == "val")
    print(f"validation subjects: {', '.join(val_subjects) or 'none'} -> {args.out}/data.yaml")
    return 0 if sum(report.pages.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
