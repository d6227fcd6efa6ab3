"""Render 10-second clinical pages of EEG recordings.

    python tools/render.py RECORDING [RECORDING ...] --out DIR [--montage NAME|all] [--start S] [--pages N]

Writes DIR/<recording>_<start_ms>.png and DIR/pages.jsonl (segment identity and Layout per page).
A file that cannot be read is reported and the others are still rendered; the exit code is 1 if
any file failed.
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.render import RenderSettings, render_recordings
from cerebragloss.runtime import use_local_caches
from cerebragloss.signals import MONTAGES, FilterSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recordings", nargs="+", help="files, folders or glob patterns")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--montage", default="longitudinal_bipolar", help=f"one of {', '.join(MONTAGES)}, or 'all'")
    parser.add_argument("--start", type=float, default=0.0, help="first page start in seconds")
    parser.add_argument("--pages", type=int, default=None, help="pages per recording (default: all)")
    parser.add_argument("--sfreq", type=float, default=FilterSettings.sfreq, help="working rate in Hz")
    parser.add_argument("--lff", type=float, default=FilterSettings.l_freq, help="low-frequency filter in Hz (0: off)")
    parser.add_argument("--hff", type=float, default=FilterSettings.h_freq, help="high-frequency filter in Hz (0: off)")
    parser.add_argument("--notch", type=float, default=None, help="mains frequency to notch (50 or 60)")
    parser.add_argument("--sensitivity", type=float, default=RenderSettings.sensitivity_uv_per_mm, help="uV/mm")
    parser.add_argument("--width", type=int, default=RenderSettings.width)
    parser.add_argument("--height", type=int, default=RenderSettings.height)
    args = parser.parse_args(argv)

    use_local_caches()
    filters = FilterSettings(sfreq=args.sfreq, l_freq=args.lff or None, h_freq=args.hff or None, notch_hz=args.notch)
    settings = RenderSettings(width=args.width, height=args.height, sensitivity_uv_per_mm=args.sensitivity)
    report = render_recordings(
        args.recordings, args.out, montage=args.montage, start_s=args.start, pages=args.pages,
        filters=filters, settings=settings,
    )  # fmt: skip
    for path, count in report.pages.items():
        print(f"ok     {path}: {count} pages  [{'; '.join(report.notes.get(path, []))}]")
    for path, problem in report.errors.items():
        print(f"error  {path}: {problem}", file=sys.stderr)
    print(f"{sum(report.pages.values())} pages from {len(report.pages)} recordings, {len(report.errors)} failed -> {args.out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
