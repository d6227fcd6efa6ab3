"""Benchmark: pages per second per core for render + PNG encode, against matplotlib.

    python tools/bench_render.py [--recording EDF] [--pages N] [--mpl-pages M]

Renders the same 10 s page (the first page of the eegmat rest recording when ../shared/data is
there, else a simulated one) with CerebraGloss's numpy renderer and with a straightforward
matplotlib figure of the same size, PNG-encoded in memory, in one process on one core, and prints
a table with the ratio. Run by ``make bench``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: the number reported is per core

from cerebragloss.runtime import project_root, use_local_caches  # noqa: E402


def matplotlib_png(segment, settings) -> bytes:
    """The page as most EEG code draws it: one matplotlib line per channel, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    dpi = 100
    figure = plt.figure(figsize=(settings.width / dpi, settings.height / dpi), dpi=dpi)
    axes = figure.add_axes((settings.label_width / settings.width, settings.footer_height / settings.height,
                            1 - (settings.label_width + settings.right_margin) / settings.width,
                            1 - (settings.header_height + settings.footer_height) / settings.height))  # fmt: skip
    time_axis = np.arange(segment.data.shape[1]) / segment.sfreq
    pitch = 100.0
    for index, trace in enumerate(segment.data):
        axes.plot(time_axis, -(index * pitch) - trace, color="black", linewidth=0.8)
    for second in range(int(segment.duration_s) + 1):
        axes.axvline(second, color="0.75", linewidth=0.8)
    axes.set_xlim(0, segment.duration_s)
    axes.set_ylim(-(len(segment.channels) - 0.5) * pitch, 0.5 * pitch)
    axes.set_yticks([-(i * pitch) for i in range(len(segment.channels))], segment.channels, fontsize=8)
    axes.set_xticks([])
    figure.text(0.005, 0.01, f"{settings.sensitivity_uv_per_mm:g} uV/mm {segment.montage} {segment.filters}", fontsize=8)
    figure.text(0.005, 0.98, segment.key, fontsize=8, va="top")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--recording", default=None)
    parser.add_argument("--pages", type=int, default=300, help="pages for the numpy renderer")
    parser.add_argument("--mpl-pages", type=int, default=20, help="pages for matplotlib (slow)")
    args = parser.parse_args(argv)
    use_local_caches()

    from cerebragloss.render import RenderSettings, render_segment
    from cerebragloss.signals import read_recording, segments_from_recording
    from cerebragloss.signals.simulate import simulate_recordings

    shared = project_root().parent / "shared" / "data" / "eeg" / "eegmat" / "Subject00_1.edf"
    path = Path(args.recording) if args.recording else shared
    if not path.exists():
        path = simulate_recordings(project_root() / ".cache" / "bench", subjects=1, minutes=0.5)[0]
    segment = next(segments_from_recording(read_recording(path), "longitudinal_bipolar", max_segments=1))
    settings = RenderSettings()

    def rate(function, count: int) -> tuple[float, int]:
        function()  # warm caches (layout template, fonts, matplotlib import)
        started = time.process_time()
        size = 0
        for _ in range(count):
            size = len(function())
        return count / (time.process_time() - started), size

    ours, our_bytes = rate(lambda: render_segment(segment, settings).png_bytes(), args.pages)
    theirs, their_bytes = rate(lambda: matplotlib_png(segment, settings), args.mpl_pages)
    print(f"page: {path.name} {segment.montage}, {len(segment.channels)} channels, {settings.width}x{settings.height} px, CPU time on 1 core")
    print()
    print("| renderer            | pages/s per core | ms/page | PNG bytes | speed-up |")
    print("|---------------------|-----------------:|--------:|----------:|---------:|")
    print(f"| matplotlib (Agg)    | {theirs:16.1f} | {1000 / theirs:7.1f} | {their_bytes:9d} |     1.0x |")
    print(f"| cerebragloss numpy  | {ours:16.1f} | {1000 / ours:7.1f} | {our_bytes:9d} | {ours / theirs:7.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
