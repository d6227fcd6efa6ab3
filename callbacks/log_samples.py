"""Log what the model writes for a few validation pages, next to the reference."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from cerebragloss.batching import IGNORE_INDEX


def prompts_of(batch: dict, rows: int) -> list[dict]:
    """Each row's prompt (everything before its first labelled token) and reference answer."""
    found = []
    for row in range(min(rows, len(batch["input_ids"]))):
        labelled = (batch["labels"][row] != IGNORE_INDEX).nonzero()
        if len(labelled) == 0:
            continue
        start = int(labelled[0])
        found.append({"row": row, "prompt_ids": batch["input_ids"][row, :start], "reference_ids": batch["input_ids"][row][batch["labels"][row] != IGNORE_INDEX]})
    return found


class LogGeneratedSamples(L.Callback):
    """After each validation, generate answers for the first ``num_samples`` pages of the first
    validation batch (greedy, ``max_new_tokens``) and log page + prompt + answer + reference:
    as a table with images to W&B when that is the logger, else as Markdown files (with the page
    PNGs) under ``<log_dir>/samples/``. A loss curve says little about what a VLM writes."""

    def __init__(self, num_samples: int = 2, max_new_tokens: int = 96):
        self.num_samples = num_samples
        self.max_new_tokens = max_new_tokens
        self._batch: dict | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == 0 and self._batch is None:
            self._batch = batch

    @torch.no_grad()
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        batch, self._batch = self._batch, None
        if batch is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        rows = generate_for_batch(pl_module, batch, self.num_samples, self.max_new_tokens)
        write_rows(trainer, rows)


def generate_for_batch(pl_module, batch: dict, count: int, max_new_tokens: int) -> list[dict]:
    tokenizer = pl_module.processor.tokenizer
    rows = []
    grids = batch["image_grid_thw"]
    patches = (grids[:, 0] * grids[:, 1] * grids[:, 2]).tolist()
    starts = [sum(patches[:i]) for i in range(len(patches))]
    for item in prompts_of(batch, count):
        row = item["row"]
        pixel_values = batch["pixel_values"][starts[row] : starts[row] + patches[row]]
        prompt = item["prompt_ids"].unsqueeze(0)
        output = pl_module.model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), pixel_values=pixel_values,
                                          image_grid_thw=grids[row : row + 1], max_new_tokens=max_new_tokens, do_sample=False)  # fmt: skip
        rows.append({
            "id": batch["ids"][row],
            "prompt": tokenizer.decode(item["prompt_ids"], skip_special_tokens=True).strip(),
            "generated": tokenizer.decode(output[0, prompt.shape[1]:], skip_special_tokens=True).strip(),
            "reference": tokenizer.decode(item["reference_ids"], skip_special_tokens=True).strip(),
            "png": (batch.get("pngs") or [None] * len(batch["ids"]))[row],
        })  # fmt: skip
    return rows


def write_rows(trainer, rows: list[dict]) -> None:
    from lightning.pytorch.loggers import WandbLogger

    step = trainer.global_step
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            import io

            import wandb
            from PIL import Image

            table = wandb.Table(columns=["id", "page", "prompt", "generated", "reference"])
            for r in rows:
                page = wandb.Image(Image.open(io.BytesIO(r["png"]))) if r["png"] else None
                table.add_data(r["id"], page, r["prompt"], r["generated"], r["reference"])
            logger.experiment.log({"samples": table, "trainer/global_step": step})
            return
    folder = Path(trainer.log_dir or trainer.default_root_dir) / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# Generated samples at step {step}", ""]
    for r in rows:
        if r["png"]:
            (folder / f"{r['id']}.png").write_bytes(r["png"])
        lines += [f"## {r['id']}", f"![page]({r['id']}.png)" if r["png"] else "", f"**prompt:** {r['prompt']}", "",
                  f"**generated:** {r['generated']}", "", f"**reference:** {r['reference']}", ""]  # fmt: skip
    (folder / f"step{step:06d}.md").write_text("\n".join(lines))
