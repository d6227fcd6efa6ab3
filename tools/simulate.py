"""Simulate EEG recordings with exact ground truth (events, artifacts, sleep stages).

    python tools/simulate.py --out DIR --subjects N --minutes M --seed S [--set events_per_page=2.5 ...]
    python tools/simulate.py --out DIR --background REAL.edf [REAL2.edf ...] --state awake --seed S

Writes DIR/<prefix><NNN>_r0.edf (EDF+, TUH-style channel names) and DIR/<prefix><NNN>_r0.events.json per
subject. With --background, the same events and artifacts are added to real recordings instead
(hybrid mode): DIR/<recording>_hybrid.edf and its truth file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cerebragloss.runtime import use_local_caches
from cerebragloss.settings import add_settings_options, settings_from_options
from cerebragloss.signals.simulate import (
    SimulationSettings,
    inject_into_recording,
    simulate_recordings,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each recording")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", default="sim", help="subject id prefix (a held-out set gets its own)")
    parser.add_argument("--background", nargs="*", default=None, help="real recordings to inject events into (hybrid mode)")
    parser.add_argument("--amplitude", type=float, default=1.0, help="scale the real backgrounds (another head's amplitude)")
    parser.add_argument("--mirror", action="store_true", help="each background mirrored left-right (electrodes under their homologues' names)")
    parser.add_argument("--state", default="awake", help="vigilance state of the real backgrounds (decides which sleep transients may be added)")
    add_settings_options(parser, "SimulationSettings", "events_per_page=2.5 states=[n2]")
    args = parser.parse_args(argv)

    use_local_caches()
    settings = settings_from_options(parser, SimulationSettings, args)
    if args.background is None:
        paths = simulate_recordings(args.out, args.subjects, args.minutes, args.seed, settings=settings, progress=True, prefix=args.prefix)
        print(f"{len(paths)} recordings x {args.minutes:g} min with truth files -> {args.out}")
        return 0
    failed = 0
    for index, source in enumerate(args.background):
        variant = (f"_x{args.amplitude:g}" if args.amplitude != 1.0 else "") + ("_mirrored" if args.mirror else "")
        target = Path(args.out) / f"{Path(source).stem}{variant}_hybrid.edf"
        try:
            inject_into_recording(source, target, state=args.state, settings=settings, seed=args.seed + index,
                                  amplitude=args.amplitude, mirror=args.mirror)  # fmt: skip
            print(f"ok     {source} -> {target}")
        except (ValueError, OSError) as error:
            failed += 1
            print(f"error  {error}", file=sys.stderr)  # the error names the file
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
