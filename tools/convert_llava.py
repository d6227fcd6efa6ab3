"""General image-text data (LLaVA JSON, e.g. LLaVA-558k) into CerebraGloss shards (task "general").

    python tools/convert_llava.py LLAVA_JSON IMAGE_DIR --out DIR [--limit N] [--samples-per-shard K]

Each record {"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]} becomes a Sample
with the image as PNG and "<image>" opening the first user turn. Records with a missing or unreadable
image or malformed turns are skipped and listed in DIR/report.json.
"""

from __future__ import annotations

import argparse
import sys

from cerebragloss.runtime import use_local_caches
from cerebragloss.synthesis.run import convert_llava


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("llava_json")
    parser.add_argument("image_dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--samples-per-shard", type=int, default=1000)
    args = parser.parse_args(argv)

    use_local_caches()
    try:
        report = convert_llava(args.llava_json, args.image_dir, args.out, args.samples_per_shard, args.limit)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    for name, reason in report["skipped"].items():
        print(f"skipped {name}: {reason}", file=sys.stderr)
    print(f"{report['records']} records -> {report['samples']} general samples, {len(report['skipped'])} skipped -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
