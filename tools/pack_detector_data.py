#!/usr/bin/env python
"""Pack a detector training set into tar parts that a GPU machine's calls can carry.

    python tools/pack_detector_data.py .cache/detector/data_mb_mix2 --out .gpu --parts 2
    python tools/pack_detector_data.py .cache/detector/data --add-train .cache/detector/data_draw2 ... --out .gpu --parts 3

DATA is a dataset folder or a data.yaml whose ``train``/``val`` may list several folders (as the
mixes under .cache/detector do); its images are often links into other folders, which a call to
the device carries as links only. Each part is a tar of real files (``images/{split}/NAME.png``
and ``labels/{split}/NAME.txt``, names prefixed by their source folder so two folders never
collide, and before that by the page's place in a seeded shuffle, the order ultralytics will
train in), pages shuffled across parts; the last part also holds DATA's ``dataset.json`` (the
coverage written next to trained weights). A call carries 64 MiB in all: PNG pages do not
compress, so a training set of ~100 MiB needs two parts, unpacked on the device by
``bash tools/gpu_checks.sh --detector-unpack PART`` then ``--detector MINUTES``. ``--add-train``
adds other datasets' training pages (their validation pages would repeat DATA's validation subjects
drawn again; `make detector-gpu-data` packs the wide model's pages so).
"""

from __future__ import annotations

import argparse
import random
import sys
import tarfile
from pathlib import Path

import yaml


def dataset_folders(data: Path) -> dict[str, list[Path]]:
    """``{split: [image folders]}`` of a dataset folder or data.yaml (paths relative to it)."""
    data_yaml = data / "data.yaml" if data.is_dir() else data
    spec = yaml.safe_load(data_yaml.read_text())
    base = data_yaml.parent / (spec.get("path") or ".")  # a relative path is the yaml's own folder's; an absolute one stays
    folders = {}
    for split in ("train", "val"):
        entries = spec.get(split) or []
        entries = [entries] if isinstance(entries, str) else entries
        folders[split] = [Path(entry) if Path(entry).is_absolute() else base / entry for entry in entries]
    return folders


def pack(data: Path, out: Path, parts: int, seed: int = 0, add_train: list[Path] = ()) -> list[Path]:
    folders = dataset_folders(data)
    for extra in add_train:
        folders["train"] += dataset_folders(extra)["train"]
    pages = []  # (split, unique name, image, label or None)
    for split, image_dirs in folders.items():
        for index, image_dir in enumerate(image_dirs):
            label_dir = Path(str(image_dir).replace("/images/", "/labels/"))
            for image in sorted(image_dir.iterdir()):
                label = label_dir / f"{image.stem}.txt"
                pages.append((split, f"d{index}_{image.stem}", image.resolve(), label if label.exists() else None))
    if not pages:
        raise SystemExit(f"{data}: no pages found")
    random.Random(seed).shuffle(pages)
    # rect training forms batches of consecutive pages in name order within a page shape, once
    # (detection.train shuffles the batches, not their members), so names from the source folders
    # gave batches of one folder each. A prefix of the shuffled position mixes folders in a batch.
    pages = [(split, f"p{rank:05d}_{name}", image, label) for rank, (split, name, image, label) in enumerate(pages)]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for part in range(parts):
        path = out / f"detector_part{part + 1}.tar"
        with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
            for split, name, image, label in pages[part::parts]:
                tar.add(image, f"images/{split}/{name}{image.suffix}")
                if label is not None:
                    tar.add(label.resolve(), f"labels/{split}/{name}.txt")  # a linked label would arrive as a dangling link
            report = (data if data.is_dir() else data.parent) / "dataset.json"
            if part == parts - 1 and report.exists():
                tar.add(report, "dataset.json")
        written.append(path)
        print(f"{path}: {len(pages[part::parts])} pages, {path.stat().st_size / 2**20:.1f} MiB")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("data", type=Path, help="dataset folder or data.yaml")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tar parts (keep it git-ignored)")
    parser.add_argument("--parts", type=int, default=1, help="number of tar parts (each a call's carry)")
    parser.add_argument("--add-train", type=Path, nargs="+", default=[], metavar="DATA", help="other datasets whose training pages join")
    args = parser.parse_args(argv)
    pack(args.data, args.out, args.parts, add_train=args.add_train)
    return 0


if __name__ == "__main__":
    sys.exit(main())
