"""Run the waveform detector over recordings and count what it finds.

    python tools/detect.py RECORDING... --out DIR [--weights W.pt] [--montage auto|NAME] [--confidence C] [--draw]

Writes DIR/detections.jsonl (per page: events with class, channels, start/end seconds from the
page start, confidence, pixel box) and, with --draw, DIR/pages/<page>.png for pages with a
detection. Default weights: the committed detector trained on simulated pages. Default montage:
the best each recording allows (double banana, else average, else as recorded), printed per file.
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.detection.detector import DetectorSettings
from cerebragloss.detection.run import detect_recordings
from cerebragloss.runtime import use_local_caches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recordings", nargs="+", help="files, folders or glob patterns")
    parser.add_argument("--out", required=True)
    parser.add_argument("--weights", default=None, help="detector weights (default: the committed simulated-page detector)")
    parser.add_argument("--montage", default="auto", help="auto (default: the best each recording allows) or a montage name")
    parser.add_argument("--confidence", type=float, default=DetectorSettings.confidence)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--draw", action="store_true", help="save pages with detections drawn")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = DetectorSettings(confidence=args.confidence, device=args.device)
    summary = detect_recordings(args.recordings, args.out, weights=args.weights, montage=args.montage,
                                detector_settings=settings, draw=args.draw)  # fmt: skip
    failed = 0
    for path, result in summary.items():
        if "error" in result:
            failed += 1
            print(f"error  {path}: {result['error']}", file=sys.stderr)
        else:
            found = ", ".join(f"{name} {count}" for name, count in result["events"].items()) or "nothing"
            print(f"ok     {path}: {result['pages']} pages; {found}; montage {result['montage']}")
    print(f"detections -> {args.out}/detections.jsonl")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
