"""Train and evaluate the CerebraGloss-YOLO waveform detector with ultralytics, offline.

The model is built from a YAML (``models/cerebragloss-yolo.yaml`` by default; any ultralytics
model YAML or a ``.pt`` checkpoint works too), so nothing is downloaded. Augmentations are chosen
for EEG pages rather than photographs; each choice is explained on :class:`DetectorTrainSettings`.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from cerebragloss.labels import WAVEFORM_CLASSES

MODELS_DIR = Path(__file__).parent / "models"


@dataclass
class DetectorTrainSettings:
    """Training settings (``tools/train_detector.py --config/--set``)."""

    #: a model YAML (bare names are looked up in ``cerebragloss/detection/models`` first, then
    #: ultralytics: ``yolov8n.yaml``), or a ``.pt`` to fine-tune
    model: str = "cerebragloss-yolo.yaml"
    epochs: int = 60
    #: hours of training, overriding ``epochs``: ultralytics re-plans the epochs (and the learning
    #: rate schedule) to fit after the first one. On a shared CPU the time an epoch takes is not
    #: known in advance; the budget is.
    time: float | None = None
    #: long side of the network input. Pages are 1344 px wide, so 640 halves them: a 30 ms spike
    #: is still 2 px wide and its margin-padded box ~10 px, above YOLO's stride-8 floor
    imgsz: int = 640
    batch: int = 16
    device: str = "cpu"
    workers: int = 2
    #: keep decoded pages in RAM (ultralytics ``cache='ram'``): on a GPU machine the workers'
    #: PNG decoding, not the network, sets the pace of a model this small
    cache: bool = False
    seed: int = 0
    patience: int = 100
    #: AdamW at 2e-3: ultralytics' "auto" would pick 7.7e-4 for 9 classes, which crawls when
    #: training from scratch on a few hundred pages
    optimizer: str = "AdamW"
    lr0: float = 0.002
    #: ultralytics warms biases up from 0.1, an SGD habit: under AdamW, or from trained weights
    #: (``model: something.pt``), it wrecks the detection head in the first epochs; 0 warms them
    #: up from 0 like the other weights
    warmup_epochs: float = 1.0
    warmup_bias_lr: float = 0.0
    #: the rate falls from lr0 to lr0 x lrf over the epochs (over the epochs that ``time`` allows,
    #: when it is set), linearly or, with cos_lr, along a cosine
    lrf: float = 0.01
    cos_lr: bool = False
    #: letterbox pages to the page shape (640x384) instead of a square: 40 % less compute per page.
    #: ultralytics then keeps the dataset order instead of shuffling.
    rect: bool = True
    # --- augmentation, for pages, not photographs -------------------------------------------
    #: no flips: time runs left to right (a K-complex or a POSTS "check mark" is asymmetric in
    #: time), and channel order is anatomy while up is negative voltage
    fliplr: float = 0.0
    flipud: float = 0.0
    #: no scaling, mosaic or mixup: the time base (30 mm/s) and sensitivity (10 uV/mm) are
    #: calibrated, and scaling a 50 ms spike by 2 makes it a 100 ms sharp wave; mosaic rescales
    #: and tiles pages, mixup overlays two pages into traces no machine draws
    scale: float = 0.0
    mosaic: float = 0.0
    mixup: float = 0.0
    #: a small shift moves boxes with their pixels and costs nothing in meaning
    translate: float = 0.05
    #: the page is black ink on white: no hue or saturation to vary
    hsv_h: float = 0.0
    hsv_s: float = 0.0
    hsv_v: float = 0.0


def resolve_model(model: str) -> str:
    """A bundled model YAML by bare name (``cerebragloss-yolo.yaml``), else ``model`` unchanged
    (an ultralytics model YAML such as ``yolov8n.yaml``, or a path to a YAML or ``.pt``)."""
    bundled = MODELS_DIR / model
    return str(bundled) if not Path(model).exists() and bundled.exists() else model


class _BatchOrderShuffler:
    """Sampler for ``rect`` training: the batches of equal-shaped pages ultralytics forms, in a
    new random order each epoch (the last, partial batch stays last so batches do not straddle).

    ultralytics turns shuffling off with ``rect`` because it sorts pages by aspect ratio and
    gives each batch one shape. With pages of 1 to 19 rows that means every epoch runs from
    all one-row pages to all full pages, in the same order: the network forgets the short pages
    by the end of each epoch and the training collapses (measured: val mAP@0.5 0.05 -> 0.001
    in five epochs of fine-tuning)."""

    def __init__(self, size: int, batch: int, seed: int):
        import torch

        self.size, self.batch = size, batch
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        import torch

        starts = list(range(0, self.size, self.batch))
        last = starts.pop() if self.size % self.batch else None
        order = [starts[i] for i in torch.randperm(len(starts), generator=self.generator).tolist()]
        if last is not None:
            order.append(last)
        for start in order:
            yield from range(start, min(start + self.batch, self.size))


def _trainer_class():
    """ultralytics' detection trainer with :class:`_BatchOrderShuffler` for rect training."""
    from ultralytics.data.build import InfiniteDataLoader, seed_worker
    from ultralytics.models.yolo.detect import DetectionTrainer

    class PageTrainer(DetectionTrainer):
        def read_results_csv(self):
            """``results.csv`` as ``{column: [values]}`` for the checkpoint, read with the csv module:
            ultralytics reads it with polars, a 54 MB wheel that GPU images lack and that this one
            call would need (``tools/gpu_checks.sh --detector`` carries ultralytics without it)."""
            try:
                with open(self.csv, newline="") as handle:
                    rows = list(csv.DictReader(handle))
            except OSError:
                return {}
            return {key.strip(): [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}

        def get_dataloader(self, dataset_path, batch_size=16, rank=0, mode="train"):
            loader = super().get_dataloader(dataset_path, batch_size, rank, mode)
            dataset = loader.dataset
            if mode != "train" or not getattr(dataset, "rect", False):
                return loader
            return InfiniteDataLoader(
                dataset=dataset, batch_size=batch_size, shuffle=False, num_workers=loader.num_workers,
                sampler=_BatchOrderShuffler(len(dataset), batch_size, self.args.seed),
                collate_fn=getattr(dataset, "collate_fn", None), worker_init_fn=seed_worker,
            )  # fmt: skip

    return PageTrainer


def _build(model: str):
    from ultralytics import YOLO

    return YOLO(resolve_model(model), task="detect")


def per_class_ap50(metrics) -> dict[str, float | None]:
    """Per-class AP@0.5 from an ultralytics ``DetMetrics`` (None: class absent from the split)."""
    result: dict[str, float | None] = dict.fromkeys(WAVEFORM_CLASSES)
    for index, ap in zip(metrics.box.ap_class_index, metrics.box.ap50, strict=True):
        result[WAVEFORM_CLASSES[int(index)]] = float(ap)
    return result


def ap50_table(per_class: dict[str, float | None], counts: dict[str, int] | None = None) -> str:
    lines = [f"{'class':<22} {'boxes':>6} {'AP@0.5':>7}"]
    for name, ap in per_class.items():
        count = "" if counts is None else str(counts.get(name, 0))
        lines.append(f"{name:<22} {count:>6} {'-' if ap is None else f'{ap:.3f}':>7}")
    present = [ap for ap in per_class.values() if ap is not None]
    lines.append(f"{'mAP@0.5':<22} {'':>6} {sum(present) / max(1, len(present)):.3f}")
    return "\n".join(lines)


def evaluate_detector(weights: str | Path, data: str | Path, *, imgsz: int | None = None, batch: int = 16, device: str = "cpu", split: str = "val", rect: bool = True) -> dict:
    """AP@0.5 per class and mAP@0.5 of ``weights`` on a split of a dataset (folder or data.yaml),
    at ``imgsz`` (default: the size the weights were trained at).

    The mean is over the classes present in the split, as ultralytics computes mAP."""
    from ultralytics import YOLO

    from cerebragloss.detection.detector import DetectorCoverage
    from cerebragloss.runtime import use_local_caches

    use_local_caches()
    if imgsz is None:
        coverage = DetectorCoverage.read(weights)
        imgsz = (coverage.imgsz if coverage is not None else None) or 640
    data = Path(data).resolve()
    if data.is_dir():
        data = data / "data.yaml"
    metrics = YOLO(str(weights), task="detect").val(
        data=str(data), split=split, imgsz=imgsz, batch=batch, device=device,
        rect=rect, plots=False, verbose=False, workers=0,
    )  # fmt: skip
    per_class = per_class_ap50(metrics)
    present = [ap for ap in per_class.values() if ap is not None]
    return {"map50": sum(present) / max(1, len(present)), "ap50": per_class, "split": split}


def write_coverage(data_dir: Path, weights: Path, imgsz: int | None = None) -> Path | None:
    """Carry the training set's coverage (montages, rows, sensitivities: ``dataset.json``) and the
    network input size ``imgsz`` next to the weights, where
    :class:`~cerebragloss.detection.detector.WaveformDetector` reads them (it infers at the size
    it was trained at). A dataset drawn without variety covers its one montage, row count and
    sensitivity."""
    report = data_dir / "dataset.json"
    coverage = json.loads(report.read_text()).get("coverage") if report.exists() else None
    if not coverage:
        return None
    from cerebragloss.detection.detector import coverage_path

    path = coverage_path(weights)
    path.write_text(json.dumps({**coverage, "dataset": data_dir.name, "imgsz": imgsz}, indent=1))
    return path


def train_detector(data_dir: str | Path, out_dir: str | Path, settings: DetectorTrainSettings | None = None, *, resume: bool = False) -> dict:
    """Train on ``data_dir`` (a ``write_yolo_dataset`` folder or any ultralytics ``data.yaml``'s
    folder), keep the best weights as ``out_dir/detector.pt`` and write ``out_dir/metrics.json``
    with per-class AP@0.5 on the validation split.

    ``resume=True`` continues an interrupted run from ``out_dir/train/weights/last.pt``.
    """
    from cerebragloss.runtime import use_local_caches
    from cerebragloss.settings import write_settings

    use_local_caches()
    settings = settings or DetectorTrainSettings()
    out_dir = Path(out_dir).resolve()
    data_yaml = Path(data_dir).resolve() / "data.yaml"
    if not data_yaml.exists():
        raise FileNotFoundError(f"{data_dir}: no data.yaml (write one with tools/train_detector.py --simulate or write_yolo_dataset)")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_settings(settings, out_dir / "train_settings.yaml")
    last = out_dir / "train" / "weights" / "last.pt"
    if resume and last.exists():
        model = _build(str(last))
        model.train(resume=True)
    else:
        options = asdict(settings)
        model_path = resolve_model(options.pop("model"))
        model = _build(model_path)
        model.train(
            trainer=_trainer_class(),
            # ultralytics drops a .pt's weights under pretrained=False and trains from scratch:
            # starting from trained weights is what a .pt model means here
            pretrained=model_path.endswith(".pt"),
            data=str(data_yaml), project=str(out_dir), name="train", exist_ok=True,
            amp=False, plots=False, val=True, deterministic=True, verbose=False, **options,
        )  # fmt: skip
    best = out_dir / "train" / "weights" / "best.pt"
    if not best.exists():
        raise RuntimeError(f"ultralytics finished without {best}; see the log above")
    from ultralytics.utils.torch_utils import strip_optimizer

    detector = out_dir / "detector.pt"
    partial = out_dir / "detector.pt.partial"
    shutil.copyfile(best, partial)
    strip_optimizer(partial)  # weights only, half precision: what inference needs (~1.3 MB)
    partial.replace(detector)
    write_coverage(Path(data_dir), detector, settings.imgsz)
    result = evaluate_detector(detector, data_yaml, imgsz=settings.imgsz, batch=settings.batch, device=settings.device, rect=settings.rect)
    result["weights"] = detector.name
    result["settings"] = asdict(settings)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=1))
    return result
