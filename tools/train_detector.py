"""Train the CerebraGloss-YOLO waveform detector (ultralytics, offline) and report AP@0.5 per class.

    python tools/train_detector.py --data DIR --out DIR [--epochs E] [--imgsz N] [--model M.yaml]
                                   [--device cpu|0] [--resume] [--config TRAIN.yaml] [--set KEY=VALUE ...]
    python tools/train_detector.py --evaluate WEIGHTS --data DIR [--events]
                                   # AP@0.5 of existing weights; --events adds event-level P/R/F1
    python tools/train_detector.py --evaluate WEIGHTS --data DIR --by-montage [--baseline OTHER.pt [--promote]]
                                   # one table: mAP@0.5 per montage x electrode count (a --vary/--grid
                                   # dataset), and the same table for --baseline weights in the same run;
                                   # --promote copies WEIGHTS (and coverage) over the baseline only if
                                   # they score higher overall and not lower on the double banana, 19 el.,
                                   # and (--real-awake DIR, default ../shared/data/eeg beside the checkout)
                                   # keep <= 0.1 false epileptiform findings/min after cleaning on every
                                   # real healthy awake recording x montage, and no more than the baseline
    python tools/train_detector.py --evaluate WEIGHTS --data HELDOUT --diagnose [--recordings DIR] [--pages-per-cell K]
                                   # where boxes are lost: mAP at IoU 0.3/0.5/0.7, found/placed by box width,
                                   # time vs row overlap; with the held-out recordings, found by how far
                                   # each event stands out of its background

DIR is a dataset folder from tools/detector_dataset.py (or any folder with an ultralytics
data.yaml). Writes OUT/detector.pt (best weights on the validation split), OUT/metrics.json,
OUT/train_settings.yaml, and ultralytics' run in OUT/train/. --resume continues from
OUT/train/weights/last.pt.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from cerebragloss.detection.detector import DetectorSettings, WaveformDetector
from cerebragloss.detection.evaluate import (
    MAX_AWAKE_FALSE_PER_MINUTE,
    better_than,
    diagnose,
    evaluate_events,
    event_table,
    false_alarm_table,
    map50_by_page_kind,
    page_kind_table,
    real_awake_false_alarms,
)
from cerebragloss.detection.train import (
    DetectorTrainSettings,
    ap50_table,
    evaluate_detector,
    train_detector,
)
from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.runtime import project_root, use_local_caches
from cerebragloss.settings import add_settings_options, settings_from_options


def _box_counts(data_dir: str) -> dict[str, int] | None:
    from pathlib import Path

    report = Path(data_dir) / "dataset.json"
    return json.loads(report.read_text())["boxes"]["val"] if report.exists() else None


def _replace_weights(weights: str, destination: str) -> None:
    """Copy weights and their coverage file over ``destination`` (each written whole, then renamed)."""
    import shutil
    from pathlib import Path

    from cerebragloss.detection.detector import coverage_path

    for source, target in ((Path(weights), Path(destination)), (coverage_path(weights), coverage_path(destination))):
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        partial.replace(target)


def _real_awake_folder(option: str | None):
    """The folder of real healthy awake recordings the promotion guard checks, or None (skipped,
    with a warning): ``--real-awake`` as given ('none' skips), else ../shared/data/eeg beside the
    checkout where it exists."""
    from pathlib import Path

    from cerebragloss.evaluation.engine_real import awake_recordings

    if option == "none":
        print("warning: --real-awake none: candidate weights are promoted without the real awake false-alarm check", file=sys.stderr)
        return None
    folder = Path(option) if option else project_root().parent / "shared" / "data" / "eeg"
    if option and not folder.is_dir():
        raise SystemExit(f"--real-awake {option}: no such folder (give the folder holding eegmat/ and eegbci/, or 'none')")
    if not folder.is_dir() or not awake_recordings(folder):
        print(f"warning: no real healthy awake recordings under {folder} (eegmat/*.edf, eegbci/*.edf): candidate weights are "
              "promoted without the real awake false-alarm check (give --real-awake DIR)", file=sys.stderr)  # fmt: skip
        return None
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset folder holding data.yaml")
    parser.add_argument("--out", help="output folder (training)")
    parser.add_argument("--evaluate", metavar="WEIGHTS", help="only evaluate these weights on --data's validation split")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--imgsz", type=int)
    parser.add_argument("--model", help="model YAML or .pt (default: cerebragloss-yolo.yaml)")
    parser.add_argument("--device", help="cpu, or a CUDA index such as 0")
    parser.add_argument("--events", action="store_true",
                        help="also score events (precision/recall/F1 at time IoU >= --min-iou) against boxes.jsonl")
    parser.add_argument("--min-iou", type=float, default=0.2, help="time IoU for an event match (default 0.2)")
    parser.add_argument("--by-montage", action="store_true",
                        help="mAP@0.5 per montage x electrode count of the pages (a dataset from detector_dataset.py --vary/--grid)")
    parser.add_argument("--baseline", metavar="WEIGHTS", help="with --by-montage: score these weights too, same pages, same run")
    parser.add_argument("--agnostic", action="store_true",
                        help="with --by-montage: also the table with every class scored as one (finding vs naming)")
    parser.add_argument("--promote", action="store_true",
                        help="with --baseline: replace the baseline weights by WEIGHTS if they score better (see better_than)")
    parser.add_argument("--real-awake", metavar="DIR",
                        help="with --promote: real recordings whose healthy awake ones (eegmat/, eegbci/) the candidate must keep "
                             f"<= {MAX_AWAKE_FALSE_PER_MINUTE:g} false epileptiform findings/min on, in every montage, and no more than "
                             "the baseline (default: ../shared/data/eeg beside the checkout, skipped with a warning where absent; 'none')")
    parser.add_argument("--pages-per-cell", type=int, metavar="K",
                        help="with --by-montage: score only the first K pages of each cell (a fixed subset for quick comparisons)")
    parser.add_argument("--diagnose", action="store_true",
                        help="with --evaluate: where boxes are lost (IoU thresholds, box widths, time vs rows; --recordings: visibility)")
    parser.add_argument("--recordings", metavar="DIR", help="with --diagnose: the simulated recordings --data was drawn from")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    add_settings_options(parser, "DetectorTrainSettings", "batch=32 lr0=0.001")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = settings_from_options(parser, DetectorTrainSettings, args)
    chosen = {k: v for k, v in {"epochs": args.epochs, "imgsz": args.imgsz, "model": args.model, "device": args.device}.items() if v is not None}
    settings = replace(settings, **chosen)
    if args.evaluate and args.diagnose:
        print(diagnose(args.evaluate, args.data, args.recordings, DetectorSettings(imgsz=args.imgsz, batch=settings.batch, device=settings.device),
                       args.pages_per_cell))  # fmt: skip
        return 0
    if args.evaluate and args.by_montage:
        # each weights at the size it was trained at (its coverage file), unless --imgsz says otherwise
        detector = DetectorSettings(imgsz=args.imgsz, batch=settings.batch, device=settings.device)
        scores = []
        for name, weights in [("", args.evaluate)] + ([("baseline ", args.baseline)] if args.baseline else []):
            kinds = map50_by_page_kind(weights, args.data, settings=detector, pages_per_cell=args.pages_per_cell, agnostic=args.agnostic)
            kinds, agnostic = kinds if args.agnostic else (kinds, None)
            scores.append(kinds)
            per_class = dict.fromkeys(WAVEFORM_CLASSES) | kinds[("all", "all")]["ap50"]
            scored = kinds[("all", "all")]["pages"]
            print(f"\n{name}{weights}: AP@0.5 per class over {scored} pages (imgsz {WaveformDetector(weights, detector).imgsz})")
            print(ap50_table(per_class, None if args.pages_per_cell else _box_counts(args.data)))
            print(f"\n{name}{weights}: mAP@0.5 (pages) by montage and electrodes recorded")
            print(page_kind_table(kinds))
            if agnostic is not None:
                print(f"\n{name}{weights}: mAP@0.5 with every class as one (boxes found, class ignored)")
                print(page_kind_table(agnostic))
        if args.promote and args.baseline:
            folder = _real_awake_folder(args.real_awake)
            promote, reason = better_than(*scores)
            # the real check (~30 s per weights) only decides between weights the held-out pages accept
            if promote and folder is not None:
                real = {name: real_awake_false_alarms(weights, folder, settings=detector, progress=True)
                        for name, weights in (("candidate", args.evaluate), ("baseline", args.baseline))}  # fmt: skip
                print(f"\nreal healthy awake EEG under {folder}: false epileptiform findings per minute after cleaning "
                      f"(bar {MAX_AWAKE_FALSE_PER_MINUTE:g})")  # fmt: skip
                print(false_alarm_table(real["candidate"], real["baseline"]))
                promote, reason = better_than(*scores, real_new=real["candidate"], real_old=real["baseline"])
            print(f"\n{'promoted' if promote else 'kept the baseline'}: {reason}")
            if promote:
                _replace_weights(args.evaluate, args.baseline)
        return 0
    if args.evaluate:
        result = evaluate_detector(args.evaluate, args.data, imgsz=args.imgsz, batch=settings.batch, device=settings.device, rect=settings.rect)
    elif args.out:
        result = train_detector(args.data, args.out, settings, resume=args.resume)
    else:
        parser.error("give --out to train, or --evaluate WEIGHTS")
    print(ap50_table(result["ap50"], _box_counts(args.data)))
    if args.events:
        weights = args.evaluate or f"{args.out}/detector.pt"
        detector = DetectorSettings(imgsz=args.imgsz, batch=settings.batch, device=settings.device)
        scores = evaluate_events(weights, args.data, min_iou=args.min_iou, settings=detector)
        print(f"\nevents (boxes of one class overlapping in time merged; matched at time IoU >= {args.min_iou}):")
        print(event_table(scores))
    if args.out and not args.evaluate:
        print(f"best weights: {args.out}/detector.pt; metrics: {args.out}/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
