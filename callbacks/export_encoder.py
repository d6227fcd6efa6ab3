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

    Args:
        dirpath: where to write; empty = ``<trainer.default_root_dir>/hf``.
    """

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        state = trainer.strategy.lightning_module_state_dict()
        if not trainer.is_global_zero:
            return
        target: Path = self.target(trainer)
        target.mkdir(parents=True, exist_ok=True)
        from cerebragloss.vision_pretraining import fold_token_mean

        model_state = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
        model_state = fold_token_mean(model_state, pl_module.head)
        pl_module.model.save_pretrained(target, state_dict=model_state)
        pl_module.processor.save_pretrained(target)
