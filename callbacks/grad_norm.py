"""Log the gradient norm of each optimizer step, the same quantity under DDP and DeepSpeed."""

from __future__ import annotations

import lightning as L
import torch


class GradientNorm(L.Callback):
    """Logs ``train/grad_norm``: the L2 norm of the accumulated, all-reduced gradients of the
    trained parameters before clipping, once per optimizer step. Under DDP and single-device
    strategies it is computed from ``.grad`` before the step; under DeepSpeed the gradients live in
    the engine's (partitioned) buffers, so the engine's own norm is read after its step. Comparing
    the two is how a scaling difference between strategies shows (Lightning's
    ``log_grad_norm`` hook sees no gradients under DeepSpeed, hence a callback)."""

    def __init__(self):
        self.norms: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if _engine(trainer) is not None:
            return
        grads = [p.grad.detach().float() for p in pl_module.parameters() if p.requires_grad and p.grad is not None]
        if grads:
            self._log(pl_module, float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        engine = _engine(trainer)
        if engine is None or (batch_idx + 1) % trainer.accumulate_grad_batches:
            return
        norm = engine.get_global_grad_norm()
        if norm is not None:
            self._log(pl_module, float(norm))

    def _log(self, pl_module, norm: float) -> None:
        self.norms.append(norm)
        pl_module.log("train/grad_norm", norm, rank_zero_only=True)
        if pl_module.trainer.is_global_zero:  # also in the run's output, for scripts that compare runs
            print(f"GradientNorm: optimizer step {len(self.norms)} grad_norm {norm:.8g}", flush=True)


def _engine(trainer):
    model = trainer.strategy.model
    return model if type(model).__name__ == "DeepSpeedEngine" else None
