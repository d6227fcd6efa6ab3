"""The main job on built-in defaults: what ``make demo`` runs.

Today it covers the foundation: simulate recordings, read them back through the EDF reader (with
TUH-style channel names), render pages in every montage, and report what was done. Later stages
(annotation, synthesis, training, evaluation) extend this function.
"""

from __future__ import annotations

import time
from pathlib import Path

from cerebragloss.render import render_recordings
from cerebragloss.settings import PageSettings
from cerebragloss.signals.simulate import simulate_recordings


def run_demo(out_dir: str | Path = "demo_output", subjects: int = 3, minutes: float = 1.0, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    print(f"[1/2] simulating {subjects} recordings x {minutes:g} min -> {out_dir / 'recordings'}")
    recordings = simulate_recordings(out_dir / "recordings", subjects=subjects, minutes=minutes, seed=seed)

    print(f"[2/2] rendering pages in every montage -> {out_dir / 'pages'}")
    settings = PageSettings()
    started = time.perf_counter()
    report = render_recordings(recordings, out_dir / "pages", montage="all", settings=settings, progress=False)
    elapsed = time.perf_counter() - started

    total = sum(report.pages.values())
    print()
    print(f"{'recording':<14} {'pages':>6}  details")
    for path, count in report.pages.items():
        print(f"{Path(path).stem:<14} {count:>6}  {report.notes[path][0]}")
    for path, problem in report.errors.items():
        print(f"{Path(path).stem:<14} {'error':>6}  {problem}")
    print()
    print(
        f"{total} pages of {settings.render.width}x{settings.render.height} px "
        f"({settings.render.visual_tokens} Qwen2.5-VL visual tokens each) "
        f"in {elapsed:.1f} s, including reading and filtering"
    )
    montage_dirs = sorted(p.name for p in (out_dir / "pages").iterdir() if p.is_dir())
    print(f"montages: {', '.join(montage_dirs)}; page metadata in {out_dir / 'pages' / '<montage>' / 'pages.jsonl'}")
    example = next((out_dir / "pages" / "longitudinal_bipolar").glob("*.png"), None)
    if example:
        print(f"look at one: {example}")
    return {"pages": total, "errors": report.errors, "seconds": elapsed}
