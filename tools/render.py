"""Render 10-second clinical pages of EEG recordings.

    python tools/render.py RECORDING [RECORDING ...] --out DIR [--montage auto|NAME|all] [--start S] [--pages N]
                           [--config SETTINGS.yaml] [--set filters.notch_hz=50 render.width=1120 ...]

Writes DIR/<recording>_<start_ms>.png and DIR/pages.jsonl (segment identity and Layout per page).
The default montage, auto, is the best each recording allows (double banana where its electrodes
make one, else common average, else as recorded); the choice and its reason are printed per file.
A file that cannot be read is reported and the others are still rendered; the exit code is 1 if
any file failed.
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.render import render_recordings
from cerebragloss.runtime import use_local_caches
from cerebragloss.settings import PageSettings, add_settings_options, settings_from_options
from cerebragloss.signals import AUTO, MONTAGES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recordings", nargs="+", help="files, folders or glob patterns")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--montage", default=AUTO, help=f"'{AUTO}' (default: the best each recording allows), one of {', '.join(MONTAGES)}, or 'all'")
    parser.add_argument("--start", type=float, default=0.0, help="first page start in seconds")
    parser.add_argument("--pages", type=int, default=None, help="pages per recording (default: all)")
    add_settings_options(parser, "filters/flags/render settings", "filters.notch_hz=50 render.sensitivity_uv_per_mm=7")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = settings_from_options(parser, PageSettings, args)
    report = render_recordings(
        args.recordings, args.out, montage=args.montage, start_s=args.start, pages=args.pages, settings=settings
    )
    for path, count in report.pages.items():
        print(f"ok     {path}: {count} pages  [{'; '.join(report.notes.get(path, []))}]")
    for path, problem in report.errors.items():
        print(f"error  {path}: {problem}", file=sys.stderr)
    print(f"{sum(report.pages.values())} pages from {len(report.pages)} recordings, {len(report.errors)} failed -> {args.out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
