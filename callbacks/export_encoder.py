"""Export of stage 0 (vision pretraining): the model without the throw-away head."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from callbacks.export import ExportHuggingFace


class ExportWithoutHead(ExportHuggingFace):
    """``ExportHuggingFace`` for ``VisionPretrainModule``: only the model's weights (``model.*``)
    are written, so the page-label head, which no later stage uses, is not in the checkpoint that
    stage 1 loads; the head's token centring is folded into the projector's output bias
    (``cerebragloss.vision_pretraining.fold_token_mean``), so later stages see the tokens it read.

    With ``monitor``, the weights exported are those of the validation pass where the monitored
    metric was best (kept in memory), not the last: stage 0 from scratch on a few hundred pages
    swings between evaluations (measured in a plain loop, held-out head AUC of muscle artifact 1.0
    at step 900 and 0.76 at step 1200 of the same run, PDR 0.89 and 0.85). ``ModelCheckpoint``
    keeps a Lightning checkpoint, not the export the next stage loads, hence this option here.

    Args:
        dirpath: where to write; empty = ``<trainer.default_root_dir>/hf``.
        monitor: a logged validation metric (e.g. ``val/auc``); empty = export the last weights.
        mode: ``max`` or ``min``: which way the monitored metric is better.
    """

    def __init__(self, dirpath: str | None = None, monitor: str | None = None, mode: str = "max"):
        super().__init__(dirpath)
        if mode not in ("max", "min"):
            raise ValueError(f"ExportWithoutHead: mode must be 'max' or 'min', got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.best: dict | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module) -> None:
        if not self.monitor or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        if self.best is not None and (value <= self.best["value"] if self.mode == "max" else value >= self.best["value"]):
            return
        self.best = {"value": value, "step": trainer.global_step,
                     "model": {k: v.detach().to("cpu", copy=True) for k, v in pl_module.model.state_dict().items()},
                     "token_mean": pl_module.head.token_mean.detach().to("cpu", copy=True)}  # fmt: skip

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        from cerebragloss.vision_pretraining import fold_token_mean

        state = trainer.strategy.lightning_module_state_dict()
        if not trainer.is_global_zero:
            return
        target: Path = self.target(trainer)
        target.mkdir(parents=True, exist_ok=True)
        model_state = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
        token_mean = pl_module.head.token_mean
        if self.best is not None:
            model_state, token_mean = self.best["model"], self.best["token_mean"]
            print(f"ExportWithoutHead: the weights of step {self.best['step']} ({self.monitor} {self.best['value']:.4f})")
        centring = token_mean if pl_module.head.center else None
        pl_module.model.save_pretrained(target, state_dict=fold_token_mean(model_state, centring))
        pl_module.processor.save_pretrained(target)
