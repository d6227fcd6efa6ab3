"""Export the trained model as a Hugging Face checkpoint (model + processor)."""

from __future__ import annotations

from pathlib import Path

import lightning as L


class ExportHuggingFace(L.Callback):
    """At the end of training, write ``dirpath`` with ``save_pretrained`` (model weights, config,
    generation config) and the processor (tokenizer, chat template, image processor with the
    run's pixel range), loadable by transformers alone (``from_pretrained(dirpath)``) and by
    stage 2 (``model.pretrained``). A Lightning checkpoint holds optimizer state and hyper-
    parameters for resuming; this is what the next stage and other tools read.

    Args:
        dirpath: where to write; empty = ``<trainer.default_root_dir>/hf``.
    """

    def __init__(self, dirpath: str | None = None):
        self.dirpath = dirpath

    def target(self, trainer: L.Trainer) -> Path:
        return Path(self.dirpath) if self.dirpath else Path(trainer.default_root_dir) / "hf"

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        # Under sharded strategies every rank must take part in gathering the full state dict.
        state = trainer.strategy.lightning_module_state_dict() if hasattr(trainer.strategy, "lightning_module_state_dict") else None
        if not trainer.is_global_zero:
            return
        target = self.target(trainer)
        target.mkdir(parents=True, exist_ok=True)
        model_state = {k.removeprefix("model."): v for k, v in state.items()} if state else None
        pl_module.model.save_pretrained(target, state_dict=model_state)
        pl_module.processor.save_pretrained(target)
