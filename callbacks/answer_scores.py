"""The model's own preference between answers, for ranking metrics (AUC) in ``cerebragloss test``."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch


class AnswerScores(L.Callback):
    """For every test sample, the logits of the first answer token at the end of the prompt: for
    binary questions ``margin = logit("Yes") - logit("No")``, for multiple-choice questions the
    logit of each option letter. Written to ``<log dir>/answer_scores.jsonl``.

    Why a callback: generation keeps only the chosen tokens, so accuracy cannot rank pages; the
    margin can (``cerebragloss.learning`` computes the AUC from it). It reruns the prompt once
    per batch (the cost of generation's first step) and touches nothing the module does.
    """

    def __init__(self):
        self.rows: list[dict] = []

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self.rows = []

    @torch.no_grad()
    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if "samples" not in batch:
            return
        tokenizer = pl_module.processor.tokenizer
        first = {word: tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in ("Yes", "No", "A", "B", "C", "D")}
        inputs = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        logits = pl_module.model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1].float()
        for row, sample in enumerate(batch["samples"]):
            item = {"id": sample["id"], "task": sample["task"]}
            if sample["task"] == "binary":
                item["margin"] = float(logits[row, first["Yes"]] - logits[row, first["No"]])
            elif sample.get("options"):
                item["letters"] = {letter: float(logits[row, first[letter]]) for letter in "ABCD"[: len(sample["options"])]}
            self.rows.append(item)

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero or not self.rows:
            return
        path = Path(trainer.log_dir or trainer.default_root_dir) / "answer_scores.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(row) + "\n" for row in self.rows))
