"""Stop training after a fraction of an epoch (the paper's stage 1 stops at 5 %)."""

from __future__ import annotations

import math

import lightning as L


class StopAtFraction(L.Callback):
    """Stop after ``fraction`` of an epoch's optimizer steps, the epoch measured from the manifests.

    ``planned_steps = ceil(fraction x ceil(epoch_samples / (batch_size x world_size x
    accumulate_grad_batches)))``, at least 1. Every rank computes the same number from the same
    manifests and compares it with ``trainer.global_step`` (counted in optimizer steps, equal on
    all ranks), so all ranks stop at the same step without communicating.

    Why not ``Trainer(limit_train_batches=0.05)``: on a streaming loader Lightning either rejects a
    float (no length) or applies it to the loader's nominal per-rank length, which for a stream is
    an estimate (ceil per worker, resampled shards have no natural length) and counts batches,
    not optimizer steps, so gradient accumulation and the number of ranks would shift the stop.
    The learning-rate schedule reads ``planned_steps`` too, so warmup and decay span the
    shortened run.
    """

    def __init__(self, fraction: float = 0.05):
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.fraction = fraction
        self._planned: tuple[int, int] | None = None  # (id of the trainer, steps): read manifests once per run

    def planned_steps(self, trainer: L.Trainer) -> int:
        if self._planned is None or self._planned[0] != id(trainer):
            self._planned = (id(trainer), self._plan(trainer))
        return self._planned[1]

    def _plan(self, trainer: L.Trainer) -> int:
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "epoch_samples"):
            raise ValueError("StopAtFraction needs a datamodule with epoch_samples() (e.g. datamodules.ShardDataModule)")
        per_step = datamodule.batch_size * trainer.world_size * trainer.accumulate_grad_batches
        steps_per_epoch = math.ceil(datamodule.epoch_samples("train") / per_step)
        return max(1, math.ceil(self.fraction * steps_per_epoch))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step >= self.planned_steps(trainer):
            trainer.should_stop = True
