"""Write what ``cerebragloss predict`` generates to a JSONL file."""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch.callbacks import BasePredictionWriter


class WritePredictions(BasePredictionWriter):
    """One JSON line per sample (id, task, question, generated text, reference, options, answer)
    in ``path`` (default ``<default_root_dir>/predictions.jsonl``), written as batches finish, so
    a long run keeps what it has generated. Lightning's predict returns results in memory only.

    Args:
        path: the JSONL file; empty = under the trainer's default_root_dir.
    """

    def __init__(self, path: str | None = None):
        super().__init__(write_interval="batch")
        self.path = path

    def target(self, trainer) -> Path:
        suffix = "" if trainer.world_size == 1 else f".rank{trainer.global_rank}"
        return Path(self.path or Path(trainer.default_root_dir) / "predictions.jsonl").with_suffix(f"{suffix}.jsonl")

    def on_predict_start(self, trainer, pl_module) -> None:
        target = self.target(trainer)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("")

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx) -> None:
        with self.target(trainer).open("a") as out:
            for row in prediction:
                out.write(json.dumps({k: v for k, v in row.items() if k not in ("png", "layout")}, ensure_ascii=False) + "\n")
