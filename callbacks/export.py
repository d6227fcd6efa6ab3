"""Export the trained model as a Hugging Face checkpoint (model + processor)."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from cerebragloss.settings import record_export_page


class ExportHuggingFace(L.Callback):
    """At the end of training, write ``dirpath`` with ``save_pretrained`` (model weights, config,
    generation config) and the processor (tokenizer, chat template, image processor with the
    run's pixel range), loadable by transformers alone (``from_pretrained(dirpath)``) and by
    stage 2 (``model.pretrained``). A Lightning checkpoint holds optimizer state and hyper-
    parameters for resuming; this is what the next stage and other tools read.

    Under DeepSpeed ZeRO-3 each rank holds a slice of every parameter: all ranks gather the full
    weights (16-bit, as trained) and rank 0 writes them; written tensors are checked to be whole.

    Args:
        dirpath: where to write; empty = ``<trainer.default_root_dir>/hf``.
    """

    def __init__(self, dirpath: str | None = None):
        self.dirpath = dirpath

    def target(self, trainer: L.Trainer) -> Path:
        return Path(self.dirpath) if self.dirpath else Path(trainer.default_root_dir) / "hf"

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        from cerebragloss.training import gathered_state_dict, is_zero3_partitioned

        # Every rank takes part in gathering the full state dict (sharded strategies).
        if is_zero3_partitioned(pl_module.model):
            model_state = gathered_state_dict(pl_module.model, keep=trainer.is_global_zero)
        elif hasattr(trainer.strategy, "lightning_module_state_dict"):
            state = trainer.strategy.lightning_module_state_dict()
            model_state = {k.removeprefix("model."): v for k, v in state.items()} if state else None
        else:
            model_state = None
        if not trainer.is_global_zero:
            return
        target = self.target(trainer)
        target.mkdir(parents=True, exist_ok=True)
        if model_state is not None:
            empty = [name for name, tensor in model_state.items() if tensor.numel() == 0]
            if empty:
                raise RuntimeError(f"export to {target}: {len(empty)} tensors are empty (e.g. {empty[0]}): partitioned weights were not gathered")
        pl_module.model.save_pretrained(target, state_dict=model_state)
        pl_module.processor.save_pretrained(target)
        record_export_page(trainer, target)  # cerebragloss_page.json: the page the training data was drawn as
        print(f"ExportHuggingFace: wrote {target}", flush=True)  # the line tools/gpu_checks.py waits for
