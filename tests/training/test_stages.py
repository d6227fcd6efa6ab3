"""The two stages on the tiny preset: what trains, what stays bitwise frozen, stopping, resuming,
exporting, and a pinned few-step loss."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from callbacks import ExportHuggingFace, StopAtFraction
from cerebragloss.model import PixelRange, language_model, projector, vision_encoder
from cerebragloss.streaming import ShardSource
from datamodules import ShardDataModule
from lit_modules import VLMModule

PIXELS = PixelRange(min_pixels=64 * 784, max_pixels=128 * 784)


class Recorder(L.Callback):
    def __init__(self):
        self.losses, self.batches, self.first_step = [], 0, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))
        self.batches += 1
        if self.first_step is None:
            self.first_step = trainer.global_step


def _data(root, **changes) -> ShardDataModule:
    settings = {"root": str(root), "train": [ShardSource("rules/train", tasks=["caption", "mcq"]), ShardSource("general/llava")],
                "batch_size": 2, "num_workers": 0, "pixels": PIXELS, "samples_per_epoch": 16, "max_length": 1024}  # fmt: skip
    return ShardDataModule(**(settings | changes))


def _trainer(tmp_path, callbacks=(), **changes) -> L.Trainer:
    settings = {"accelerator": "cpu", "devices": 1, "max_steps": 3, "logger": False, "enable_checkpointing": False,
                "enable_progress_bar": False, "enable_model_summary": False, "default_root_dir": str(tmp_path)}  # fmt: skip
    return L.Trainer(callbacks=list(callbacks), **(settings | changes))


def _snapshot(module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.model.named_parameters()}


def _changed(before, module, parameters) -> list[bool]:
    names = {id(p): n for n, p in module.model.named_parameters()}
    return [not torch.equal(before[names[id(p)]], p.detach()) for p in parameters]


def test_stage1_trains_the_projector_and_leaves_every_other_weight_bitwise(shard_root, tmp_path):
    module = VLMModule(stage=1, preset="tiny", pixels=PIXELS, lr=1e-2)
    module.configure_model()
    assert module.trainable_counts == {"projector": sum(p.numel() for p in projector(module.model))} == {"projector": 24800}
    before = _snapshot(module)
    _trainer(tmp_path).fit(module, datamodule=_data(shard_root))
    assert all(_changed(before, module, projector(module.model)))
    head = {id(p) for p in projector(module.model)}
    others = [p for p in module.model.parameters() if id(p) not in head]
    assert len(others) > 20 and not any(_changed(before, module, others))


def test_stage2_trains_projector_and_language_model_but_not_the_vision_encoder(shard_root, tmp_path):
    module = VLMModule(stage=2, preset="tiny", pixels=PIXELS, lr=1e-3)
    module.configure_model()
    llm = sum(p.numel() for p in language_model(module.model))
    assert module.trainable_counts == {"projector": 24800, "language_model": llm} and llm == 9_798_208
    before = _snapshot(module)
    # the vision encoder runs without autograd: nothing in it requires grad during training
    seen = []
    module.model.model.visual.blocks[-1].register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    _trainer(tmp_path, max_steps=2).fit(module, datamodule=_data(shard_root))
    assert seen and not any(seen)
    assert not any(_changed(before, module, vision_encoder(module.model)))
    assert all(_changed(before, module, projector(module.model)))
    assert sum(_changed(before, module, language_model(module.model))) > 10


def test_a_seeded_few_step_loss_is_pinned(shard_root, tmp_path):
    # Everything seeded: model init, shard order, shuffle buffers, grouping. A change in
    # batching, labels, the model preset or the optimizer shows up here.
    L.seed_everything(0)
    recorder = Recorder()
    module = VLMModule(stage=2, preset="tiny", pixels=PIXELS, lr=1e-3, seed=0)
    _trainer(tmp_path, callbacks=[recorder], max_steps=4).fit(module, datamodule=_data(shard_root, num_workers=0))
    torch.testing.assert_close(torch.tensor(recorder.losses), torch.tensor(PINNED_LOSSES), rtol=1e-4, atol=1e-4)


# re-pinned when streams became exact epoch plans (issue 14: the batches' order changed) and after
# the training changes of issue 13 (the losses of steps 3-4 moved by ~1e-3), and after issue 12's
# retrained default detector (the shards' captions come from its annotations: step 3 moved by 9e-3),
# and again for the next detector weights (fe58318: step 3 moved by 8.8e-3; with the previous
# weights put back the old values pass, checked), and for detector D (5467353: every step moved by
# up to 0.045; with C put back the old values [12.046622, 11.883081, 11.947809, 11.731062] pass, checked),
# and for mixed batches (training shards shuffled when written, 8 shards interleaved, 16-token length
# buckets: step 1 moved by 0.056; with the three set back to before, [12.001698, 11.892714,
# 11.909449, 11.692328] pass, checked), and for sleep transients searched on the common average
# whatever the page's montage (the shards' captions name other spindles: step 2 moved by 0.022;
# with SleepSettings.signal set back to "page", [11.945816, 11.884892, 11.905207, 11.694536] pass, checked)
# and for one finding per discharge (cleaning folds kept discharges at one moment on other channels:
# step 3 moved by 5.3e-3; with same_discharge_min_overlap set to 1e9, the old values
# [11.948893, 11.906913, 11.904606, 11.695321] pass, checked), and for K-complexes looked for in
# 0.5-4 Hz on frontocentral channels (the shards' captions name other K-complexes: step 1 moved by
# 0.035; with kcomplex_band_hz (0.3, 1.5), the AASM amplitudes and KCOMPLEX_ELECTRODES empty, the
# old values [11.94894, 11.906983, 11.909872, 11.695862] pass, checked)
PINNED_LOSSES = [11.914422, 11.896466, 11.903075, 11.698114]


def test_stop_at_fraction_stops_at_the_computed_optimizer_step_with_accumulation(shard_root, tmp_path):
    # 16 samples / (batch 2 x 1 device x accumulation 2) = 4 optimizer steps per epoch; 0.5 -> 2.
    recorder = Recorder()
    stop = StopAtFraction(0.5)
    trainer = _trainer(tmp_path, callbacks=[stop, recorder], max_steps=-1, max_epochs=1, accumulate_grad_batches=2)
    module = VLMModule(stage=1, preset="tiny", pixels=PIXELS)
    trainer.fit(module, datamodule=_data(shard_root))
    assert stop.planned_steps(trainer) == 2
    assert trainer.global_step == 2 and recorder.batches == 4
    # the schedule spans the shortened run: warmup + cosine reach 0 at the planned step
    assert trainer.lr_scheduler_configs[0].scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


def test_resume_from_a_checkpoint_continues_the_step_count(shard_root, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=1)
    first = _trainer(tmp_path, callbacks=[checkpoint], max_steps=2, enable_checkpointing=True)
    first.fit(VLMModule(stage=1, preset="tiny", pixels=PIXELS), datamodule=_data(shard_root))
    recorder = Recorder()
    second = _trainer(tmp_path, callbacks=[recorder], max_steps=4)
    module = VLMModule(stage=1, preset="tiny", pixels=PIXELS)
    second.fit(module, datamodule=_data(shard_root), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert recorder.first_step == 3 and second.global_step == 4 and recorder.batches == 2


def test_the_export_reloads_with_transformers_alone_and_generates(shard_root, tmp_path):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from cerebragloss.batching import chat_messages, load_image
    from cerebragloss.shards import iter_shard_set

    module = VLMModule(stage=1, preset="tiny", pixels=PIXELS, lr=1e-2)
    _trainer(tmp_path, callbacks=[ExportHuggingFace(str(tmp_path / "hf"))], max_steps=1).fit(module, datamodule=_data(shard_root))
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "hf")
    processor = AutoProcessor.from_pretrained(tmp_path / "hf")
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter, dict(module.model.named_parameters())[name], rtol=0, atol=0)
    assert processor.image_processor.size["longest_edge"] == PIXELS.max_pixels
    sample, png = next(iter_shard_set(shard_root / "rules" / "val"))
    messages = chat_messages(sample)[:1]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[load_image(png)], return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert output.shape[1] == inputs["input_ids"].shape[1] + 6


def test_stage2_starts_from_the_stage1_export(shard_root, tmp_path):
    stage1 = VLMModule(stage=1, preset="tiny", pixels=PIXELS, lr=1e-2)
    _trainer(tmp_path, callbacks=[ExportHuggingFace(str(tmp_path / "hf"))], max_steps=1).fit(stage1, datamodule=_data(shard_root))
    stage2 = VLMModule(stage=2, preset="tiny", init_from=str(tmp_path / "hf"), pixels=PIXELS, seed=123)
    stage2.configure_model()
    torch.testing.assert_close(projector(stage2.model)[0], projector(stage1.model)[0], rtol=0, atol=0)


def test_gradient_checkpointing_gives_the_same_loss(shard_root, tmp_path):
    losses = []
    for checkpointing in (False, True):
        L.seed_everything(0)
        recorder = Recorder()
        module = VLMModule(stage=2, preset="tiny", pixels=PIXELS, gradient_checkpointing=checkpointing)
        _trainer(tmp_path, callbacks=[recorder], max_steps=2).fit(module, datamodule=_data(shard_root))
        losses.append(recorder.losses)
    torch.testing.assert_close(torch.tensor(losses[0]), torch.tensor(losses[1]), rtol=1e-5, atol=1e-5)


def test_validation_logs_generated_samples_and_throughput_is_measured(shard_root, tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    from callbacks import LogGeneratedSamples, TokenThroughput

    data = _data(shard_root, val=[ShardSource("rules/val", tasks=["caption"])])
    trainer = _trainer(tmp_path, callbacks=[LogGeneratedSamples(num_samples=2, max_new_tokens=4), TokenThroughput(window_size=2)],
                       max_steps=3, logger=CSVLogger(tmp_path / "logs"), limit_val_batches=1, val_check_interval=3,
                       log_every_n_steps=1)  # fmt: skip
    trainer.fit(VLMModule(stage=1, preset="tiny", pixels=PIXELS), datamodule=data)
    (report,) = (tmp_path / "logs").rglob("samples/step000003.md")
    text = report.read_text()
    assert text.count("**generated:**") == 2 and text.count("**reference:**") == 2 and "double banana" in text
    assert len(list(report.parent.glob("*.png"))) == 2  # the pages, next to the texts
    (metrics,) = (tmp_path / "logs").rglob("metrics.csv")
    header = metrics.read_text().splitlines()[0]
    # Lightning names the length_fn's unit "items": here non-padding tokens
    assert {"train/device/items_per_sec", "train/device/samples_per_sec", "train/device/flops_per_sec"} <= set(header.split(","))
