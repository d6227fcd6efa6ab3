"""Benchmark: the waveform detector's inference seconds per page at each network input size, one core.

    python tools/bench_detector.py --data HELDOUT_DIR [--weights W.pt ...] [--imgsz 640 1344] [--pages 64]

Times ``WaveformDetector.detect_images`` (batches of 16, as the engine calls it) on ``--pages``
pages of a dataset folder taken evenly over its (montage, electrodes) cells (the held-out grid:
1- to 19-row pages), after one
warm-up batch, with one torch thread. Prints a table: size, seconds per page, pages per second.
The engine runs the detector on every page, so this is the cost a larger input size adds to it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: the numbers are per core
os.environ.setdefault("MKL_NUM_THREADS", "1")

from cerebragloss.runtime import use_local_caches  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--data", required=True, help="dataset folder with boxes.jsonl (tools/detector_dataset.py)")
    parser.add_argument("--weights", nargs="+", default=None, help="default: the committed weights")
    parser.add_argument("--imgsz", nargs="+", type=int, default=[640, 1344])
    parser.add_argument("--pages", type=int, default=64)
    args = parser.parse_args(argv)
    use_local_caches()

    import json
    from pathlib import Path

    import torch
    from PIL import Image

    from cerebragloss.detection.detector import DEFAULT_WEIGHTS, DetectorSettings, WaveformDetector
    from cerebragloss.detection.evaluate import balanced_pages
    from cerebragloss.render import Layout

    torch.set_num_threads(1)
    data = Path(args.data)
    records = [json.loads(line) for line in (data / "boxes.jsonl").read_text().splitlines()]
    cells = len({(r["montage"], r["electrodes"]) for r in records})
    records = balanced_pages(records, -(-args.pages // cells))[: args.pages]  # every kind of page
    images = [Image.open(data / "images" / r["split"] / f"{r['page']}.png").convert("RGB") for r in records]
    layouts = [Layout.from_dict(r["layout"]) for r in records]
    rows = sum(len(layout.channels) for layout in layouts) / len(layouts)
    print(f"{len(images)} pages of {data} (mean {rows:.1f} rows), batches of 16, 1 thread")
    print(f"{'weights':<40} {'imgsz':>6} {'s/page':>8} {'pages/s':>8}")
    for weights in args.weights or [str(DEFAULT_WEIGHTS)]:
        for imgsz in args.imgsz:
            detector = WaveformDetector(weights, DetectorSettings(imgsz=imgsz))
            detector.detect_images(images[:16], layouts[:16])  # warm-up: first-call allocations
            start = time.perf_counter()
            detector.detect_images(images, layouts)
            seconds = (time.perf_counter() - start) / len(images)
            print(f"{Path(weights).name:<40} {imgsz:>6} {seconds:>8.3f} {1 / seconds:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
