"""Stage 0, vision pretraining on page labels (``cerebragloss.vision_pretraining``), and the
from-scratch variant of stages 1 and 2.

The paper starts from a pretrained Qwen2.5-VL and never needs stage 0; it exists for presets built
from random weights (``small``), where no pretrained vision encoder exists. Both classes subclass
``VLMModule`` to share its loading, processor, pixel range and optimizer schedule (and so accept the
same config keys and overlays); what differs is what trains and the loss.
"""

from __future__ import annotations

import torch

from lit_modules.vlm import VLMModule, planned_optimizer_steps

LOSS_AVERAGES = ("tokens", "samples")
LR_SCHEDULES = ("cosine", "constant")


class VisionPretrainModule(VLMModule):
    """Stage 0: the vision encoder, the projector and a throw-away head on the projector's output
    (the visual tokens the language model will read) learn to predict the page's labels (binary
    cross-entropy over ``PAGE_LABELS``); the language model stays as built. Export
    with ``callbacks.ExportWithoutHead``: stage 1 starts from that checkpoint (``init_from``).

    Args:
        head_lr: learning rate of the head (default: ``lr``).
        center_tokens: the head reads the visual tokens minus their running mean, and the export
            folds that mean into the projector (``PageLabelHead``): the page is then the whole of
            what the language model receives, not ~5 % of it.
        mean_penalty: weight of the squared norm of the batch's mean visual token (per channel)
            added to the loss. Why: the head subtracts a running mean, so nothing in the labels'
            loss holds the tokens' common part, and it drifts (measured: mean token norm 1607
            against 2.2 for what varies, after 1200 steps at 5e-4); the running mean then lags it
            by as much as the page itself (1.0 on the validation pages), and the head's scores go
            with it (validation loss 0.37 -> 0.58 over the last 300 steps, muscle artifact AUC
            1.0 -> 0.6, and from one data order to another PDR 0.58 against 0.85).
        **kwargs: as ``VLMModule`` (``stage`` is ignored: this is stage 0).
    """

    def __init__(self, head_lr: float | None = None, center_tokens: bool = True, mean_penalty: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.head = None
        self._val_scores: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []

    def configure_model(self) -> None:
        if self.model is not None:
            return
        from cerebragloss.model import PixelRange, load_model, load_processor
        from cerebragloss.vision_pretraining import PageLabelHead, freeze_for_vision_pretraining

        hp = self.hparams
        source = hp.init_from or hp.pretrained
        self.model = load_model(source, hp.preset, seed=hp.seed)
        self.processor = load_processor(source, hp.pixels or PixelRange())
        self.model.train()
        self.trainable_counts = freeze_for_vision_pretraining(self.model)
        self.head = PageLabelHead(self.model.config.vision_config.out_hidden_size, center=hp.center_tokens)
        self.trainable_counts["head (not exported)"] = sum(p.numel() for p in self.head.parameters())

    def tokens_and_scores(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        from cerebragloss.vision_pretraining import visual_tokens

        tokens, per_page = visual_tokens(self.model, batch["pixel_values"], batch["image_grid_thw"])
        return tokens.float(), self.head(tokens.float(), per_page)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.tokens_and_scores(batch)[1]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        tokens, scores = self.tokens_and_scores(batch)
        labels_loss = torch.nn.functional.binary_cross_entropy_with_logits(scores, batch["targets"])
        mean_token = tokens.mean(0)
        loss = labels_loss + self.hparams.mean_penalty * mean_token.square().mean()
        size = len(batch["targets"])
        self.log("train/loss", labels_loss, prog_bar=True, batch_size=size)
        self.log("train/mean_token_norm", mean_token.detach().norm(), batch_size=size)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        scores = self(batch)
        self.log("val/loss", torch.nn.functional.binary_cross_entropy_with_logits(scores, batch["targets"]), prog_bar=True,
                 batch_size=len(batch["targets"]), sync_dist=True)  # fmt: skip
        self._val_scores.append(scores.detach().cpu())
        self._val_targets.append(batch["targets"].cpu())

    def on_validation_epoch_end(self) -> None:
        """``val/auc/<label>`` per label with both classes present, and their mean ``val/auc``."""
        from cerebragloss.vision_pretraining import PAGE_LABELS, rank_auc

        if not self._val_scores:
            return
        scores, targets = torch.cat(self._val_scores), torch.cat(self._val_targets)
        self._val_scores, self._val_targets = [], []
        aucs = {}
        for index, name in enumerate(PAGE_LABELS):
            auc = rank_auc(scores[:, index].tolist(), (targets[:, index] > 0.5).tolist())
            if auc is not None:
                aucs[name] = auc
                self.log(f"val/auc/{name}", auc)
        if aucs:
            self.log("val/auc", sum(aucs.values()) / len(aucs), prog_bar=True)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        self.on_validation_epoch_end()

    def configure_optimizers(self):
        from transformers import get_cosine_schedule_with_warmup

        hp = self.hparams
        groups = [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": hp.lr, "name": "visual"},
                  {"params": list(self.head.parameters()), "lr": hp.head_lr or hp.lr, "name": "head"}]  # fmt: skip
        optimizer = torch.optim.AdamW(groups, lr=hp.lr, weight_decay=hp.weight_decay)
        steps = planned_optimizer_steps(self.trainer)
        scheduler = get_cosine_schedule_with_warmup(optimizer, int(hp.warmup_ratio * steps), max(1, steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class FromScratchVLMModule(VLMModule):
    """Stages 1 and 2 of the paper for a model built from scratch on small hardware: the same
    parts train on the same loss (``VLMModule``, loss on labelled positions), optionally with the
    token embeddings frozen at their random initialisation (``freeze_embeddings``: their 19 M
    parameters are most of a CPU step's optimizer work in the ``small`` preset).

    Off by default, measured: the embeddings are tied with ``lm_head``, so freezing them freezes
    the output layer too, and stage 2 of the learn run then moved its loss from 11.9 to 11.1 in 80
    steps, against 4.0 in 60 steps with them trained (tools/learn.py, same data and seeds).

    Args:
        freeze_embeddings: keep the (tied) token embeddings, and so the output layer, frozen.
        loss_average: ``tokens`` = mean over the batch's labelled tokens (as ``VLMModule``);
            ``samples`` = mean over samples of each sample's mean token loss
            (``cerebragloss.training.sample_mean``), so that one-word answers mixed with long
            descriptions keep their share of the gradient.
        lr_schedule: ``cosine`` = warmup then cosine decay to 0 (as ``VLMModule``); ``constant`` =
            warmup then the peak learning rate to the end.
        answer_start_weight: with ``loss_average="samples"``, each answer's first token counts as
            this many tokens in its sample's mean (``cerebragloss.training.answer_starts``). Why:
            that token is the decision - an MCQ's letter, a yes/no - and in "D. Alpha dominant
            activity with no artifacts" plus its explanation it is 1 of 23 labelled tokens.
        **kwargs: as ``VLMModule``.
    """

    def __init__(self, freeze_embeddings: bool = False, loss_average: str = "tokens", lr_schedule: str = "cosine",
                 answer_start_weight: float = 1.0, **kwargs):  # fmt: skip
        problems = [f"model.{name}={value!r}: choose one of {', '.join(choices)}"
                    for name, value, choices in (("loss_average", loss_average, LOSS_AVERAGES), ("lr_schedule", lr_schedule, LR_SCHEDULES))
                    if value not in choices]  # fmt: skip
        if answer_start_weight != 1.0 and loss_average != "samples":
            problems.append(f"model.answer_start_weight={answer_start_weight!r} needs model.loss_average='samples'")
        if answer_start_weight <= 0:
            problems.append(f"model.answer_start_weight={answer_start_weight!r}: must be > 0")
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__(**kwargs)
        self.loss_per_sample = loss_average == "samples"
        self.answer_start_weight = answer_start_weight

    def configure_optimizers(self):
        configured = super().configure_optimizers()
        if self.hparams.lr_schedule == "constant":
            from transformers import get_constant_schedule_with_warmup

            steps = planned_optimizer_steps(self.trainer)
            configured["lr_scheduler"]["scheduler"] = get_constant_schedule_with_warmup(configured["optimizer"], int(self.hparams.warmup_ratio * steps))
        return configured

    def configure_model(self) -> None:
        if self.model is not None:
            return
        super().configure_model()
        embeddings = self.model.get_input_embeddings().weight
        if self.hparams.freeze_embeddings and embeddings.requires_grad:
            embeddings.requires_grad_(False)
            self.trainable_counts["language_model"] -= embeddings.numel()
            self.trainable_counts["frozen token embeddings"] = embeddings.numel()
