"""The two training stages of CerebraGloss as one thin LightningModule.

Stage 1 trains the projector only (``model.visual.merger``); stage 2 the projector and the
language model (decoder + ``lm_head``). The vision encoder is frozen in both: its parameters do
not require grad and its inputs (pixels) do not either, so autograd records nothing there and it
runs as inference, with gradient checkpointing on too. Freezing, loading and parts live in
``cerebragloss.model``; how a step runs (vision attention, loss on labelled positions, frozen parts
in bf16) in ``cerebragloss.training``. Under DeepSpeed the module sizes the micro batch from the
data, builds ZeRO-3 models sharded, and undoes the engine's second division of the loss by the
accumulation.
"""

from __future__ import annotations

import lightning as L
import torch

from cerebragloss.evaluation.judge import JudgeSettings
from cerebragloss.model import (
    PixelRange,
    freeze_for_stage,
    language_model,
    load_model,
    load_processor,
    projector,
)
from cerebragloss.training import (
    SpeedSettings,
    gradient_accumulation_correction,
    prepare_for_training,
    training_loss,
)

#: batch entries that are not model inputs
_NOT_INPUTS = ("ids", "skipped", "pngs", "samples")


class VLMModule(L.LightningModule):
    """Qwen2.5-VL instruction tuning, stage 1 or 2.

    Args:
        stage: 1 = projector only; 2 = projector + language model. The vision encoder is frozen in both.
        pretrained: the base model's Hugging Face checkpoint directory (e.g. Qwen2.5-VL-3B-Instruct).
        preset: model built from a config when ``pretrained`` is empty: ``tiny`` or ``qwen2.5-vl-3b`` (random weights).
        init_from: a previous stage's export (``ExportHuggingFace``) to start from instead of the
            base model: stage 2 starts from stage 1's output.
        pixels: page pixel range of the processor; linked from ``data.pixels`` by the CLI.
        lr: peak learning rate (the language model's in stage 2).
        projector_lr: peak learning rate of the projector when it should differ from ``lr``.
        weight_decay: AdamW weight decay.
        warmup_ratio: share of the optimizer steps spent warming up linearly, then cosine decay to 0.
        gradient_checkpointing: recompute activations of the language model in backward (non-reentrant).
        vision_attention: the vision tower's window attention: ``auto`` (varlen on CUDA in half
            precision, else windowed_batched), ``windowed_batched`` (one call per layer,
            anywhere), ``varlen`` (torch's varlen flash kernel, CUDA) or ``sdpa`` (transformers'
            path, one call per window).
        loss_positions: ``labelled`` = the head runs on labelled positions only; ``all`` = full logits.
        frozen_dtype: dtype of the frozen parts: ``auto`` = bf16 under bf16 autocast, else as loaded.
        compile: ``torch.compile`` each decoder layer of the language model.
        checkpoint_every_n_layers: with gradient checkpointing, recompute every n-th decoder layer
            only (1 = all, 0 = none): spare memory buys back the recompute.
        seed: initialisation seed of a preset model.
        max_new_tokens: generation length in ``test`` and ``predict`` (greedy decoding).
        judge: the LLM judge of conversation answers in ``test``; none = not scored.
        report_examples: pages shown in the test report with their generated and reference text.
        detector: waveform detector weights scored on benchmark pages with reference boxes
            (``default`` = the committed ones; empty = no detection score).
    """

    def __init__(
        self,
        stage: int = 1,
        pretrained: str | None = None,
        preset: str = "tiny",
        init_from: str | None = None,
        pixels: PixelRange | None = None,
        lr: float = 1e-3,
        projector_lr: float | None = None,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.03,
        gradient_checkpointing: bool = False,
        vision_attention: str = "auto",
        loss_positions: str = "labelled",
        frozen_dtype: str = "auto",
        compile: bool = False,
        checkpoint_every_n_layers: int = 1,
        seed: int = 0,
        max_new_tokens: int = 256,
        judge: JudgeSettings | None = None,
        report_examples: int = 3,
        detector: str | None = "default",
    ):
        super().__init__()
        self.save_hyperparameters()
        # checked here, at instantiation: a bad choice fails before any model is built
        self.speed = SpeedSettings(vision_attention=vision_attention, loss_positions=loss_positions, frozen_dtype=frozen_dtype,
                                   compile=compile, checkpoint_every_n_layers=checkpoint_every_n_layers)  # fmt: skip
        self._hf_deepspeed_config = None
        self.model = None
        self.processor = None
        self.trainable_counts: dict[str, int] = {}
        self.skipped_samples = 0
        self._tokens_last_batch = 0
        self._flops_per_token: int | None = None
        self.generated: list[dict] = []

    def configure_model(self) -> None:
        if self.model is not None:
            return
        hp = self.hparams
        source = hp.init_from or hp.pretrained
        deepspeed = deepspeed_config(self._trainer)
        if deepspeed is not None and deepspeed.get("zero_optimization", {}).get("stage") == 3:
            from transformers.integrations import HfDeepSpeedConfig

            # Lightning builds this inside deepspeed.zero.Init; without an HfDeepSpeedConfig alive
            # (transformers holds a weak reference) from_pretrained does not know the parameters
            # are partitioned and loads nothing into the zero-size shards.
            self._hf_deepspeed_config = HfDeepSpeedConfig(deepspeed)
        self.model = load_model(source, hp.preset, seed=hp.seed)
        self.processor = load_processor(source, hp.pixels or PixelRange())
        self.model.train()  # from_pretrained returns eval mode; dropout settings then follow the trainer
        self.trainable_counts = freeze_for_stage(self.model, hp.stage)
        prepare_for_training(self.model, hp.stage, self.speed, hp.gradient_checkpointing,
                             None if deepspeed is not None else autocast_dtype(self._trainer))  # fmt: skip

    def setup(self, stage: str) -> None:
        config = deepspeed_config(self._trainer)
        batch_size = getattr(self._trainer.datamodule, "batch_size", None) if self._trainer is not None else None
        if config is not None and batch_size is not None:
            # Lightning sizes DeepSpeed's micro batch from train_dataloader.batch_sampler.batch_size;
            # the shard loader yields ready batches and has none. Runs before configure_model,
            # where the ZeRO-3 context first reads the config.
            config["train_micro_batch_size_per_gpu"] = int(batch_size)

    @property
    def synced_generation(self) -> bool:
        """Whether ``generate`` must run on every rank in step (ZeRO-3 gathers each layer's
        weights from all ranks): pass as ``generate(..., synced_gpus=...)``."""
        config = deepspeed_config(self._trainer)
        return config is not None and config.get("zero_optimization", {}).get("stage") == 3 and self._trainer.world_size > 1

    #: average the loss per sample before the batch (``training_loss(per_sample=)``); the paper's
    #: token mean by default (``FromScratchVLMModule(loss_average="samples")`` sets it)
    loss_per_sample: bool = False
    #: the weight of each answer's first token in the per-sample loss (``training_loss``); 1 = the
    #: plain mean (``FromScratchVLMModule(answer_start_weight=)`` sets it)
    answer_start_weight: float = 1.0

    def forward(self, batch: dict) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k not in _NOT_INPUTS}
        return training_loss(self.model, inputs, self.speed, per_sample=self.loss_per_sample, answer_start_weight=self.answer_start_weight)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self(batch)
        self._tokens_last_batch = int(batch["attention_mask"].sum())
        self.skipped_samples += int(batch.get("skipped", 0))
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        self.log("train/skipped_samples", float(self.skipped_samples), batch_size=len(batch["input_ids"]))
        strategy = self.trainer.strategy
        return loss * gradient_accumulation_correction(strategy.handles_gradient_accumulation, self.trainer.accumulate_grad_batches)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.log("val/loss", self(batch), prog_bar=True, batch_size=len(batch["input_ids"]), sync_dist=True)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        if "references" not in batch:  # loss batches (data.generate=false)
            self.log("test/loss", self(batch), batch_size=len(batch["input_ids"]), sync_dist=True)
            return
        self.generated += rows_from_batch(batch, self.generate(batch))

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        return rows_from_batch(batch, self.generate(batch))

    @torch.no_grad()
    def generate(self, batch: dict) -> list[str]:
        """Greedy answers for a batch of left-padded prompts."""
        inputs = {k: v for k, v in batch.items() if k not in (*_NOT_INPUTS, "references")}
        output = self.model.generate(**inputs, max_new_tokens=self.hparams.max_new_tokens, do_sample=False,
                                     pad_token_id=self.processor.tokenizer.pad_token_id,
                                     synced_gpus=self.synced_generation)  # fmt: skip
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        return [text.strip() for text in self.processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def on_test_epoch_start(self) -> None:
        self.generated = []

    def on_test_epoch_end(self) -> None:
        if not self.generated:
            return
        from pathlib import Path

        from cerebragloss.evaluation.benchmark import score_generations, write_report

        rows = self.all_gathered_rows()
        root = Path(self.trainer.log_dir or self.trainer.default_root_dir)
        scores = score_generations(rows, self.hparams.judge, root / "judge_cache") if self.trainer.is_global_zero else {}
        detection = None
        if self.trainer.is_global_zero and self.hparams.detector:
            from cerebragloss.evaluation.bench import detection_scores

            detection = detection_scores(rows, None if self.hparams.detector == "default" else self.hparams.detector)
            if detection is not None:
                self.log("test/detection_map50", float(detection["map50"]), rank_zero_only=True)
        for key in ("mcq_accuracy", "complex_mcq_accuracy", "binary_accuracy", "description_rouge1", "caption_rouge1",
                    "tusz_balanced_accuracy", "hmc_balanced_accuracy"):
            if scores.get(key) is not None:
                self.log(f"test/{key}", float(scores[key]), rank_zero_only=True)
        if scores.get("judge") and scores["judge"]["mean"] is not None:
            self.log("test/judge", float(scores["judge"]["mean"]), rank_zero_only=True)
        if self.trainer.is_global_zero:
            self.report_path = write_report(root / "report" / "report.md", scores, with_pages(rows, root / "report", detection),
                                            examples=self.hparams.report_examples, detection=detection)  # fmt: skip

    def all_gathered_rows(self) -> list[dict]:
        """Every rank's generations (one rank: this one's)."""
        if self.trainer.world_size == 1:
            return self.generated
        import torch.distributed as dist

        gathered: list = [None] * self.trainer.world_size
        dist.all_gather_object(gathered, self.generated)
        return [row for part in gathered for row in part]

    @property
    def flops_per_batch(self) -> int:
        """For Lightning's ThroughputMonitor (MFU): forward over every parameter, activation
        gradients back through the language model, weight gradients of what trains (x2 FLOPs per
        multiply-add, per token of the last batch)."""
        if self.model is None:
            return 0
        if self._flops_per_token is None:  # the monitor asks every step; the counts do not change
            total = sum(numel(p) for p in self.model.parameters())
            llm = sum(numel(p) for p in language_model(self.model))
            trainable = sum(numel(p) for p in self.model.parameters() if p.requires_grad)
            self._flops_per_token = 2 * (total + llm + trainable)
        return self._flops_per_token * self._tokens_last_batch

    def configure_optimizers(self):
        from transformers import get_cosine_schedule_with_warmup

        hp = self.hparams
        head = {id(p) for p in projector(self.model)}
        groups = [
            {"params": [p for p in projector(self.model) if p.requires_grad], "lr": hp.projector_lr or hp.lr, "name": "projector"},
            {"params": [p for p in self.model.parameters() if p.requires_grad and id(p) not in head], "lr": hp.lr, "name": "language_model"},
        ]
        groups = [g for g in groups if g["params"]]
        # one fused kernel per step instead of a loop over tensors, where every parameter is on a GPU
        # (DeepSpeed steps its own flat partitions)
        fused = deepspeed_config(self._trainer) is None and all(p.is_cuda for g in groups for p in g["params"])
        optimizer = torch.optim.AdamW(groups, lr=hp.lr, weight_decay=hp.weight_decay, betas=(0.9, 0.999), fused=fused or None)
        steps = planned_optimizer_steps(self.trainer)
        scheduler = get_cosine_schedule_with_warmup(optimizer, int(hp.warmup_ratio * steps), max(1, steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def numel(parameter: torch.nn.Parameter) -> int:
    """Elements of a parameter, also when ZeRO-3 has partitioned it (its local tensor is empty)."""
    return getattr(parameter, "ds_numel", parameter.numel())


def deepspeed_config(trainer) -> dict | None:
    """The DeepSpeed config of the trainer's strategy (None: not DeepSpeed, or no trainer yet)."""
    if trainer is None:
        return None
    from lightning.pytorch.strategies import DeepSpeedStrategy

    config = getattr(trainer.strategy, "config", None)
    return config if isinstance(trainer.strategy, DeepSpeedStrategy) and isinstance(config, dict) else None


def autocast_dtype(trainer) -> torch.dtype | None:
    """The dtype the trainer's precision autocasts to (None: no autocast, or no trainer)."""
    precision = str(trainer.precision) if trainer is not None else ""
    return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)


def planned_optimizer_steps(trainer) -> int:
    """Optimizer steps this run will take: a stop-at-fraction callback's plan when present, else
    Lightning's estimate (epochs x batches / accumulation, or max_steps)."""
    for callback in trainer.callbacks:
        if hasattr(callback, "planned_steps"):
            return callback.planned_steps(trainer)
    return int(trainer.estimated_stepping_batches)


def rows_from_batch(batch: dict, predictions: list[str]) -> list[dict]:
    """One row per sample: what was asked, generated and expected (see evaluation.benchmark)."""
    from cerebragloss.evaluation.benchmark import question_of

    rows = []
    for row, (sample, prediction) in enumerate(zip(batch["samples"], predictions, strict=True)):
        rows.append({"id": sample["id"], "task": sample["task"], "prediction": prediction, "reference": batch["references"][row],
                     "question": question_of({"messages": sample["messages"][:-1]}), "options": sample.get("options"),
                     "answer": sample.get("answer"), "png": (batch.get("pngs") or [None] * len(predictions))[row],
                     "page": sample.get("page"), "boxes": sample.get("boxes"), "layout": sample.get("layout"),
                     "label": sample.get("label")})  # fmt: skip
    return rows


def with_pages(rows: list[dict], folder, detection: dict | None = None) -> list[dict]:
    """Rows with their page saved next to the report (for the examples); pages with reference
    boxes also drawn with the reference (thick) and the detector's boxes (thin)."""
    from pathlib import Path

    from cerebragloss.evaluation.bench import draw_reference_and_predicted

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    predicted = (detection or {}).get("predicted", {})
    out = []
    for row in rows:
        row = dict(row)
        png = row.pop("png", None)
        if png:
            name = f"{row['id']}.png".replace("/", "_")
            page_key = row.get("page") or row["id"]
            if row.get("boxes") is not None and page_key in predicted:
                draw_reference_and_predicted(png, row["boxes"], predicted[page_key]).save(folder / name)
            else:
                (folder / name).write_bytes(png)
            row["page_file"] = name
        out.append(row)
    return out
