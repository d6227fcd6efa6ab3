"""Learning from scratch: stage 0 (vision pretraining on page labels), the from-scratch stages,
the image-blind control's blank pages, and the learning table's scores. The slow test that trains
briefly and checks that the model reads the page is test_learning_reads_pages.py."""

from __future__ import annotations

import io

import lightning as L
import pytest
import torch
from PIL import Image

from callbacks.export_encoder import ExportWithoutHead
from cerebragloss.learning import blank_shard_set, question_kind, question_scores, tie_close_scores
from cerebragloss.model import PixelRange
from cerebragloss.shards import iter_shard_set, read_manifest
from cerebragloss.streaming import ShardSource
from cerebragloss.vision_pretraining import (
    PAGE_LABELS,
    PageLabelHead,
    page_labels,
    rank_auc,
    vision_encoder_parameters,
)
from datamodules.page_labels import PageLabelDataModule
from lit_modules.vision_pretrain import FromScratchVLMModule, VisionPretrainModule

PIXELS = PixelRange(min_pixels=64 * 784, max_pixels=128 * 784)


def test_page_labels_agree_with_the_rule_questions_written_from_the_same_page(shard_root):
    """Stage 0's targets are the facts the later stages' yes/no questions are about."""
    label_of_kind = {"binary:epileptiform": "epileptiform", "binary:pdr": "pdr"}
    checked = 0
    for sample, _ in iter_shard_set(shard_root / "rules" / "train"):
        if sample["task"] != "binary":
            continue
        labels = dict(zip(PAGE_LABELS, page_labels(sample["annotation"]), strict=True))
        kind = question_kind("binary", sample["messages"][0]["content"])
        if kind in label_of_kind:
            assert labels[label_of_kind[kind]] == float(sample["answer"] == "yes"), sample["id"]
            checked += 1
        elif kind == "binary:symmetry":
            assert labels["asymmetric"] == float(sample["answer"] == "no"), sample["id"]
            checked += 1
    assert checked >= 5


def test_the_background_question_follows_the_facts_and_leaves_fewer_questions_as_they_were(annotations):
    """The learn run's sixth yes/no kind (tools/learn.py asks 6 per page): "does delta activity
    dominate the background?", answered from the prevailing band stage 0's ``background:delta``
    label is made of; runs that ask five or fewer per page get the questions they got before."""
    from cerebragloss.synthesis.facts import page_facts
    from cerebragloss.synthesis.rules import binary_questions

    answers = []
    for annotation in annotations:
        facts = page_facts(annotation)
        six = binary_questions(facts, 6)
        assert six[:5] == binary_questions(facts, 5) and binary_questions(facts, 2) == six[:2]
        asked = [(q, a) for q, a, _ in six if question_kind("binary", q) == "binary:background"]
        assert len(asked) == 1, six
        labels = dict(zip(PAGE_LABELS, page_labels(annotation), strict=True))
        assert asked[0][1] == ("yes" if labels["background:delta"] else "no") == ("yes" if facts.background.prevailing_band == "delta" else "no")
        answers.append(asked[0][1])
    assert "yes" in answers and "no" in answers


def test_question_kinds_follow_the_rules_wording():
    assert question_kind("binary", "<image>\nDoes this page contain epileptiform discharges? Answer yes or no.") == "binary:epileptiform"
    assert question_kind("binary", "Is there muscle (EMG) artifact on this page? Answer yes or no.") == "binary:artifact"
    assert question_kind("binary", "Is there a sleep spindle on this page? Answer yes or no.") == "binary:waveform"
    assert question_kind("binary", "Is a posterior dominant rhythm present? Answer yes or no.") == "binary:pdr"
    assert question_kind("binary", "Does delta activity dominate the background? Answer yes or no.") == "binary:background"
    assert question_kind("mcq", "Which waveform is seen in C3-P3 at about 2.0 s?\nA. spike") == "mcq:waveform"
    assert question_kind("mcq", "In which frequency band is the posterior dominant rhythm?") == "mcq:pdr"
    assert question_kind("complex_mcq", "anything") == "complex_mcq"


def test_rank_auc_matches_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    scores, positives = [0.1, 0.4, 0.4, 0.8, 0.3, 0.9, 0.4], [False, True, False, True, False, True, True]
    assert rank_auc(scores, positives) == pytest.approx(roc_auc_score(positives, scores))
    assert rank_auc([1.0] * 4, [True, False, True, False]) == 0.5  # a constant score ranks nothing
    assert rank_auc([0.2, 0.3], [True, True]) is None


def test_margins_tie_within_float_noise_but_rank_a_seeing_models_small_differences():
    """Blank pages in differently padded batches differ by ~2e-6 (a blind model must rank nothing:
    AUC 0.5), while a seeing model's margins on one fixed question differed by ~1e-3 (it must rank
    them; rounding to 1e-3 tied them all)."""
    def pdr(i, answer):
        return {"id": f"p{i}", "task": "binary", "question": "Is a posterior dominant rhythm present?", "answer": answer,
                "prediction": "Yes."}  # fmt: skip

    rows = [pdr(i, answer) for i, answer in enumerate(["yes", "no", "yes", "no", "yes", "no"])]
    blind = {f"p{i}": 0.4 + noise for i, noise in enumerate([2e-6, 0.0, -1e-6, 1.5e-6, -2e-6, 1e-6])}
    assert question_scores(rows, blind)["binary:pdr"]["auc"] == 0.5
    seeing = {f"p{i}": 0.4121 + step for i, step in enumerate([2e-4, 0.0, 3e-4, 5e-5, 1.5e-4, 1e-4])}
    assert question_scores(rows, seeing)["binary:pdr"]["auc"] == 1.0
    assert tie_close_scores([0.3, 0.3 + 5e-6, 0.7]) == [0.3, 0.3, 0.7]


def test_question_scores_accuracy_majority_and_auc():
    def binary(i, answer, prediction, margin):
        return {"id": f"b{i}", "task": "binary", "question": "Is a posterior dominant rhythm present?", "answer": answer,
                "prediction": prediction}, margin  # fmt: skip

    made = [binary(0, "yes", "Yes.", 2.0), binary(1, "yes", "No.", 0.5), binary(2, "no", "No.", -1.0), binary(3, "yes", "Yes", 1.0)]
    rows, margins = [r for r, _ in made], {r["id"]: m for r, m in made}
    mcq = {"id": "m0", "task": "mcq", "question": "Which artifact affects Fp1-F7?", "answer": "B", "options": ["a", "b", "c", "d"],
           "prediction": "B. b"}  # fmt: skip
    scores = question_scores([*rows, mcq], margins)
    assert scores["binary:pdr"] == {"accuracy": 0.75, "chance": 0.75, "auc": 1.0, "n": 4, "majority_answer": "yes"}
    assert scores["mcq:artifact"]["accuracy"] == 1.0 and scores["mcq:artifact"]["auc"] is None
    # the majority answer comes from the training questions when given
    training = [{"task": "binary", "question": "Is a posterior dominant rhythm present?", "answer": "no"}] * 3
    assert question_scores(rows, margins, training)["binary:pdr"]["chance"] == 0.25


def test_the_blind_copy_keeps_every_sample_and_blanks_every_page(shard_root, tmp_path):
    source = shard_root / "rules" / "train"
    manifest = blank_shard_set(source, tmp_path / "blank")
    assert manifest["samples"] == read_manifest(source)["samples"] and manifest["tasks"] == read_manifest(source)["tasks"]
    for (original, png), (copy, blank) in zip(iter_shard_set(source), iter_shard_set(tmp_path / "blank"), strict=True):
        assert copy == original
        page, empty = Image.open(io.BytesIO(png)), Image.open(io.BytesIO(blank)).convert("RGB")
        assert empty.size == page.size and empty.getextrema() == ((255, 255), (255, 255), (255, 255))


def test_stage0_pages_are_decoded_once_and_read_back_the_same(shard_root):
    """Stage 0 reads each page ~30 times: the processor runs once per page, and a cached page is
    the tensors a fresh decode gives."""
    from cerebragloss.model import build_processor
    from datamodules.page_labels import PageDataset

    processor = build_processor(PIXELS)
    calls = []
    original = processor.image_processor.__call__

    class Counting:
        def __call__(self, *args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

    cached = PageDataset([str(shard_root / "rules" / "train")], processor)
    fresh = PageDataset([str(shard_root / "rules" / "train")], processor, cache=False)
    processor.image_processor = Counting()
    for _ in range(3):
        items = [cached[i] for i in range(len(cached))]
    assert len(calls) == len(cached)
    for index, item in enumerate(items):
        again = fresh[index]
        torch.testing.assert_close(item["pixel_values"], again["pixel_values"])
        assert torch.equal(item["image_grid_thw"], again["image_grid_thw"]) and torch.equal(item["targets"], again["targets"])


def test_stage0_trains_the_visual_tower_alone_and_exports_without_the_head(shard_root, tmp_path):
    """The vision encoder and the projector train (the head reads the projector's visual tokens);
    the language model does not move."""
    module = VisionPretrainModule(preset="tiny", pixels=PIXELS, lr=1e-2)
    module.configure_model()
    encoder = vision_encoder_parameters(module.model) + list(module.model.model.visual.merger.parameters())
    assert module.trainable_counts["vision_encoder"] + module.trainable_counts["projector"] == sum(p.numel() for p in encoder)
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    data = PageLabelDataModule(root=str(shard_root), train=[ShardSource("rules/train")], batch_size=4, num_workers=0, pixels=PIXELS,
                               samples_per_epoch=8)  # fmt: skip
    assert data.epoch_samples() == 8 and len(data._pages("train")) == len(set(data._pages("train").keys))
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=str(tmp_path), callbacks=[ExportWithoutHead()])  # fmt: skip
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 2
    encoder_ids = {id(p) for p in encoder}
    for name, parameter in module.model.named_parameters():
        changed = not torch.equal(before[name], parameter.detach())
        assert changed == (id(parameter) in encoder_ids) or (id(parameter) in encoder_ids and "bias" in name), name
    from safetensors import safe_open
    from transformers import Qwen2_5_VLForConditionalGeneration

    with safe_open(str(tmp_path / "hf" / "model.safetensors"), "pt") as exported:
        assert not [k for k in exported.keys() if "head" in k.split(".")[0]]
    reloaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "hf")
    torch.testing.assert_close(reloaded.model.visual.blocks[0].mlp.up_proj.weight, module.model.model.visual.blocks[0].mlp.up_proj.weight)
    # the head read centred tokens; the export emits them (its running mean folded into the projector)
    batch = next(iter(data.train_dataloader()))
    with torch.no_grad():
        live = module.model.model.visual(batch["pixel_values"], grid_thw=batch["image_grid_thw"]).pooler_output
        exported = reloaded.model.visual(batch["pixel_values"], grid_thw=batch["image_grid_thw"]).pooler_output
    assert module.head.mean_updates == 2 and module.head.token_mean.norm() > 0.01
    torch.testing.assert_close(exported, live - module.head.token_mean)


def test_stage0_exports_the_weights_of_its_best_validation_pass(shard_root, tmp_path):
    """``ExportWithoutHead(monitor=...)``: the export holds the weights (and the centring) of the
    validation pass where the monitored metric was best, not the last. Monitored here the wrong
    way round on purpose (the largest validation loss), so that the best pass is not the last."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    class Record(L.Callback):
        def __init__(self):
            self.passes = []

        def on_validation_end(self, trainer, module):
            self.passes.append((float(trainer.callback_metrics["val/loss"]), trainer.global_step,
                                module.model.model.visual.blocks[0].mlp.up_proj.weight.detach().clone(),
                                module.model.model.visual.merger.mlp[2].bias.detach() - module.head.token_mean))  # fmt: skip

    module = VisionPretrainModule(preset="tiny", pixels=PIXELS, lr=1e-2)
    data = PageLabelDataModule(root=str(shard_root), train=[ShardSource("rules/train")], val=[ShardSource("rules/val")], batch_size=4,
                               num_workers=0, pixels=PIXELS, samples_per_epoch=16)  # fmt: skip
    record = Record()
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=str(tmp_path), val_check_interval=1, num_sanity_val_steps=0,
                        callbacks=[record, ExportWithoutHead(monitor="val/loss", mode="max")])  # fmt: skip
    trainer.fit(module, datamodule=data)
    assert [step for _, step, _, _ in record.passes] == [1, 2, 3, 4]
    _, step, weight, bias = max(record.passes, key=lambda p: p[0])
    assert step != 4
    reloaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "hf")
    torch.testing.assert_close(reloaded.model.visual.blocks[0].mlp.up_proj.weight, weight)
    torch.testing.assert_close(reloaded.model.visual.merger.mlp[2].bias, bias)
    assert not torch.equal(reloaded.model.visual.blocks[0].mlp.up_proj.weight, module.model.model.visual.blocks[0].mlp.up_proj.weight)


def test_stage0_holds_the_visual_tokens_common_part_near_zero():
    """The loss of stage 0 is the labels' loss plus ``mean_penalty`` times the batch's mean token's
    squared norm (per channel): the head reads centred tokens, so without it the common part
    drifts freely and the running mean the head subtracts lags behind the page."""
    from cerebragloss.vision_pretraining import PAGE_LABELS as labels

    def first_loss(penalty):
        module = VisionPretrainModule(preset="tiny", pixels=PIXELS, lr=1e-2, mean_penalty=penalty)
        module.configure_model()
        module.log = lambda *args, **kwargs: None
        torch.manual_seed(0)
        batch = {"pixel_values": torch.rand(2 * 64, 1176), "image_grid_thw": torch.tensor([[1, 8, 8], [1, 8, 8]]),
                 "targets": torch.zeros(2, len(labels))}  # fmt: skip
        tokens, scores = module.tokens_and_scores(batch)
        labels_loss = torch.nn.functional.binary_cross_entropy_with_logits(scores, batch["targets"])
        return module.training_step(batch, 0), labels_loss, tokens.mean(0).square().mean()

    with_penalty, labels_loss, drift = first_loss(0.5)
    assert drift > 1e-4
    torch.testing.assert_close(with_penalty, labels_loss + 0.5 * drift)
    without, labels_loss, _ = first_loss(0.0)
    torch.testing.assert_close(without, labels_loss)


def test_the_page_label_head_reads_tokens_minus_their_running_mean():
    torch.manual_seed(0)
    head = PageLabelHead(8, labels=3, momentum=0.25)
    first, second = torch.randn(6, 8) + 5.0, torch.randn(6, 8) - 3.0
    head(first, [2, 4])
    torch.testing.assert_close(head.token_mean, first.mean(0))  # the first batch sets it outright
    head(second, [6])
    torch.testing.assert_close(head.token_mean, 0.75 * first.mean(0) + 0.25 * second.mean(0))
    head.eval()
    frozen = head.token_mean.clone()
    uncentred = PageLabelHead(8, labels=3, center=False)
    uncentred.load_state_dict(head.state_dict())
    uncentred.eval()
    # the centred head reads a page as the uncentred one reads the page minus the mean
    torch.testing.assert_close(head(first, [2, 4]), uncentred(first - frozen, [2, 4]))
    assert torch.equal(head.token_mean, frozen)  # not updated outside training


def test_the_from_scratch_stage2_can_keep_token_embeddings_frozen():
    module = FromScratchVLMModule(stage=2, preset="tiny", pixels=PIXELS, freeze_embeddings=True)
    module.configure_model()
    embeddings = module.model.get_input_embeddings().weight
    assert not embeddings.requires_grad and module.model.lm_head.weight is embeddings  # tied: the head stays too
    trainable = sum(p.numel() for p in module.model.parameters() if p.requires_grad)
    assert trainable == module.trainable_counts["projector"] + module.trainable_counts["language_model"]
    assert module.trainable_counts["frozen token embeddings"] == embeddings.numel()


def test_the_per_sample_loss_weighs_a_short_answer_like_a_long_one():
    """``loss_average: samples``: the mean over samples of each sample's mean token loss, so a
    one-word answer in a batch with a long description keeps its share (the learn run's stage-2
    batches: yes/no answers' deciding token 3.8 % of the labelled tokens under the token mean)."""
    from cerebragloss.model import build_processor, freeze_for_stage, load_model
    from cerebragloss.speed_bench import synthetic_batches
    from cerebragloss.training import SpeedSettings, sample_mean, training_loss

    batch = synthetic_batches(build_processor(PIXELS), batch_size=3, count=1, words=(2, 120))[0]
    torch.manual_seed(0)
    model = load_model(preset="tiny", seed=0)
    freeze_for_stage(model, 2)
    labels = batch["labels"][:, 1:]
    counts = (labels != -100).sum(1)
    assert counts.max() > 1.5 * counts.min()  # answers of different lengths
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits[:, :-1].float()
        token_losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
        expected = torch.stack([token_losses[row][labels[row] != -100].mean() for row in range(len(labels))]).mean()
        per_sample = training_loss(model, batch, SpeedSettings(), per_sample=True)
        per_token = training_loss(model, batch, SpeedSettings())
    torch.testing.assert_close(per_sample, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(per_token, token_losses[labels != -100].mean(), rtol=1e-5, atol=1e-6)
    # a random model's token losses are all ~11.9, so the two averages differ there by ~1e-3 only;
    # on hand-made losses: four tokens of one answer at 1, a one-token answer at 5
    losses, rows = torch.tensor([1.0, 1.0, 1.0, 1.0, 5.0]), torch.tensor([0, 0, 0, 0, 2])
    assert sample_mean(losses, rows, samples=3).item() == pytest.approx(3.0)  # row 1 has no label: not counted
    module = FromScratchVLMModule(stage=2, preset="tiny", pixels=PIXELS, loss_average="samples")
    module.model = model
    torch.testing.assert_close(module(batch).detach(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="model.loss_average='sample'.*model.lr_schedule='flat'"):
        FromScratchVLMModule(stage=2, preset="tiny", loss_average="sample", lr_schedule="flat")


def test_the_answers_first_token_can_weigh_more_in_the_per_sample_loss():
    """``answer_start_weight``: in each sample's mean, the first token of each answer (an MCQ's
    letter, found as the start of each run of labelled positions) counts w times. Checked against
    the weighted mean computed here from the model's logits, on a real encoded MCQ and
    conversation; the first labelled target of the MCQ decodes to its letter."""
    from cerebragloss.batching import collate, encode_sample
    from cerebragloss.model import build_processor, freeze_for_stage, load_model
    from cerebragloss.training import SpeedSettings, answer_starts, training_loss

    MODEL_KEYS = {"input_ids", "attention_mask", "labels", "pixel_values", "image_grid_thw"}

    processor = build_processor(PIXELS)
    image = Image.new("RGB", (392, 196), "white")
    mcq = {"id": "m", "messages": [{"role": "user", "content": "<image>\nWhich band?\nA. Delta\nB. Theta\nC. Alpha\nD. Beta"},
                                   {"role": "assistant", "content": "C. Alpha dominant activity"}]}  # fmt: skip
    talk = {"id": "c", "messages": [{"role": "user", "content": "<image>\nWhat band?"}, {"role": "assistant", "content": "Alpha."},
                                    {"role": "user", "content": "Any spikes?"}, {"role": "assistant", "content": "No spikes are seen."}]}  # fmt: skip
    items = [encode_sample(sample, image, processor, 1024) for sample in (mcq, talk)]
    batch = {k: v for k, v in collate(items, processor.tokenizer.pad_token_id).items() if k in MODEL_KEYS}
    targets = batch["labels"][:, 1:]
    starts = answer_starts(targets != -100)
    assert starts.sum(1).tolist() == [1, 2]  # one answer, then two turns
    assert processor.tokenizer.decode(targets[0][starts[0]]).strip() == "C"
    torch.manual_seed(0)
    model = load_model(preset="tiny", seed=0)
    freeze_for_stage(model, 2)
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits[:, :-1].float()
        token_losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
        for weight in (1.0, 6.0):
            per_row = [(token_losses[r] * torch.where(starts[r], weight, 1.0))[targets[r] != -100].sum()
                       / torch.where(starts[r], weight, 1.0)[targets[r] != -100].sum() for r in range(2)]  # fmt: skip
            got = training_loss(model, batch, SpeedSettings(), per_sample=True, answer_start_weight=weight)
            torch.testing.assert_close(got, torch.stack(per_row).mean(), rtol=1e-5, atol=1e-6)
        assert not torch.isclose(training_loss(model, batch, SpeedSettings(), per_sample=True, answer_start_weight=6.0),
                                 training_loss(model, batch, SpeedSettings(), per_sample=True))  # fmt: skip
    with pytest.raises(ValueError, match="answer_start_weight=4.0 needs model.loss_average='samples'"):
        FromScratchVLMModule(stage=2, preset="tiny", answer_start_weight=4.0)


def _blank_or_page_items(directory, processor, prompt_only: bool) -> tuple[list[dict], list[bool]]:
    """One item per page of a shard set, every other page blanked, asked "Is this page blank?"."""
    from cerebragloss.batching import encode_prompt, encode_sample, load_image
    from cerebragloss.learning import blank_page

    items, blank, seen = [], [], set()
    for sample, png in iter_shard_set(directory):
        if sample["page"] in seen:
            continue
        seen.add(sample["page"])
        is_blank = len(seen) % 2 == 0
        question = {"id": sample["page"], "messages": [{"role": "user", "content": "<image>\nIs this page blank?"},
                                                        {"role": "assistant", "content": "Yes" if is_blank else "No"}]}  # fmt: skip
        image = load_image(blank_page(png) if is_blank else png)
        items.append((encode_prompt if prompt_only else encode_sample)(question, image, processor, 1024))
        blank.append(is_blank)
    return items, blank


def test_stage2_reads_an_answer_only_the_image_holds(shard_root):
    """The oracle check of the path from pixels to the answer token: "is this page blank?" on
    pages of which every other one is blanked. A few stage-2 steps of the tiny model through the
    training loss separate held-out blank and real pages by the yes-minus-no margin. It fails when
    the pages never reach the model (every page blank) or the labels are shifted by one position
    (both shown once, planted in ``encode_sample`` and ``labelled_positions_loss``). The same check
    on the learn run's ``small`` stage-1 export separated them at AUC 1.0 after 50 steps, so a
    seeing = blind table there is not a broken path."""
    from cerebragloss.batching import collate, collate_prompts
    from cerebragloss.model import build_processor, freeze_for_stage, load_model
    from cerebragloss.training import SpeedSettings, prepare_for_training, training_loss

    torch.manual_seed(0)
    processor = build_processor(PIXELS)
    model = load_model(preset="tiny", seed=0)
    freeze_for_stage(model, 2)
    speed = SpeedSettings()
    prepare_for_training(model, 2, speed, False, None)
    train, _ = _blank_or_page_items(shard_root / "rules" / "train", processor, prompt_only=False)
    held_out, blank = _blank_or_page_items(shard_root / "rules" / "bench", processor, prompt_only=True)
    assert len(train) >= 8 and 2 <= sum(blank) <= len(blank) - 2
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(40):
        batch = collate([train[i] for i in torch.randperm(len(train), generator=generator)[:8].tolist()], processor.tokenizer.pad_token_id)
        loss = training_loss(model, {k: v for k, v in batch.items() if k != "ids"}, speed)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    yes, no = (processor.tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in ("Yes", "No"))
    model.eval()
    with torch.no_grad():
        prompts = collate_prompts(held_out, processor.tokenizer.pad_token_id)
        logits = model(**{k: v for k, v in prompts.items() if isinstance(v, torch.Tensor)}, use_cache=False).logits[:, -1]
    margins = (logits[:, yes] - logits[:, no]).tolist()
    assert rank_auc(tie_close_scores(margins), blank) >= 0.9, margins


def test_learn_data_made_with_other_settings_is_refused_not_reused(tmp_path):
    """``prepare_data`` skips its done steps on a rerun, so data made with other settings (here
    questions per page) must stop the run with the settings named, not train on the old shards;
    data with no record of its settings is refused too, and the same settings pass."""
    from cerebragloss.learning import LearnSettings, check_data_settings

    out = tmp_path / "learn"
    check_data_settings(out, LearnSettings(binary_per_page=5))
    (out / "shards").mkdir()
    check_data_settings(out, LearnSettings(binary_per_page=5))  # the same settings: reused
    with pytest.raises(ValueError, match="binary_per_page 5 -> 6"):
        check_data_settings(out, LearnSettings(binary_per_page=6))
    # the teacher's complex-MCQ order decides the teacher shards: a data setting too
    with pytest.raises(ValueError, match="teacher_mcq_option_order clinical -> shuffled"):
        check_data_settings(out, LearnSettings(binary_per_page=5, teacher_mcq_option_order="shuffled"))
    with pytest.raises(ValueError, match="teacher_tasks_per_page 3 -> 1"):
        check_data_settings(out, LearnSettings(binary_per_page=5, teacher_tasks_per_page=1))

    unrecorded = tmp_path / "older"
    (unrecorded / "annotations").mkdir(parents=True)
    with pytest.raises(ValueError, match="no record of the settings"):
        check_data_settings(unrecorded, LearnSettings())


def test_stage_plan_validates_stage0_once_at_the_end_and_adds_each_runs_own_arguments(tmp_path):
    """``stage0_val_passes=1`` must validate stage 0 once (the float 1.0: Lightning reads the int 1
    as "after every batch", which validated 400 times in a 400-step run); ``run_extra`` adds
    arguments to the named run only, and an unknown run name is refused."""
    from cerebragloss.learning import LearnSettings, _stage_runs

    settings = LearnSettings(stage0_val_passes=1, run_extra={"stage2": ["--trainer.max_steps=7"], "test": ["--model.init_args.max_new_tokens=4"]})
    plan = {name: overrides for name, _, _, overrides in _stage_runs(tmp_path, tmp_path, settings)}
    assert "--trainer.val_check_interval=1.0" in plan["stage0"]
    assert "--trainer.val_check_interval=0.25" in {name: o for name, _, _, o in _stage_runs(tmp_path, tmp_path, LearnSettings())}["stage0"]
    assert plan["stage2"][-1] == "--trainer.max_steps=7" and plan["test"][-1] == "--model.init_args.max_new_tokens=4"
    assert not any("max_steps" in o for name in ("stage0", "stage1", "test") for o in plan[name])
    with pytest.raises(ValueError, match="run_extra: unknown run stage3"):
        _stage_runs(tmp_path, tmp_path, LearnSettings(run_extra={"stage3": []}))
    # training_seed reaches every run, both the global seed and the data order's
    reseeded = _stage_runs(tmp_path, tmp_path, LearnSettings(training_seed=3))
    assert all({"--seed_everything=3", "--data.init_args.seed=3"} <= set(o) for _, _, _, o in reseeded)


def test_stage2_can_train_on_the_yes_no_questions_of_chosen_kinds_alone(shard_root, tmp_path):
    """``stage2_binary_kinds``: a copy of the rule shards with those kinds' yes/no questions alone,
    every one of them and nothing else (the pages with them); ``stage2_binary_only``: stage 2's
    mix is that source alone; a kind with no question is an error, not an empty stage 2.
    ``stage2_mcq_samples`` appends the rule MCQs once more, never to a yes/no-only stage 2."""
    from collections import Counter

    from cerebragloss.learning import (
        ABLATION_ROWS,
        LearnSettings,
        _stage_runs,
        binary_kinds_path,
        kind_shard_set,
    )

    source = shard_root / "rules" / "train"
    kinds = Counter(question_kind(s["task"], s["messages"][0]["content"]) for s, _ in iter_shard_set(source) if s["task"] == "binary")
    kind = kinds.most_common(1)[0][0].removeprefix("binary:")
    manifest = kind_shard_set(source, tmp_path / binary_kinds_path([kind]), [kind])
    copied = list(iter_shard_set(tmp_path / binary_kinds_path([kind])))
    assert manifest["samples"] == len(copied) == kinds[f"binary:{kind}"] and manifest["tasks"] == {"binary": len(copied)}
    wanted = {s["id"]: png for s, png in iter_shard_set(source) if s["task"] == "binary" and question_kind("binary", s["messages"][0]["content"]) == f"binary:{kind}"}
    assert {s["id"]: png for s, png in copied} == wanted
    with pytest.raises(ValueError, match="no question of background"):
        kind_shard_set(source, tmp_path / "none", ["background"])
    assert not (tmp_path / "none").exists()  # nothing a rerun would take for done

    plan = {name: o for name, _, _, o in _stage_runs(tmp_path, tmp_path, LearnSettings(stage2_binary_kinds=[kind], stage2_binary_only=True))}
    assert f'--data.init_args.train=[{{"path": "{binary_kinds_path([kind])}", "tasks": ["binary"], "samples": 1700000}}]' in plan["stage2"]
    default = {name: o for name, _, _, o in _stage_runs(tmp_path, tmp_path, LearnSettings())}
    assert '--data.init_args.train+={"path": "rules/train", "tasks": ["binary"], "samples": 1700000}' in default["stage2"]
    more_mcqs = '--data.init_args.train+={"path": "rules/train", "tasks": ["mcq"], "samples": 400000}'
    assert more_mcqs in default["stage2"]
    assert not any('"tasks": ["mcq"]' in o for o in {name: o for name, _, _, o in _stage_runs(tmp_path, tmp_path, LearnSettings(stage2_mcq_samples=0))}["stage2"])
    alone = LearnSettings(stage2_mcq_samples=400000, stage2_binary_kinds=[kind], stage2_binary_only=True)
    assert not any("mcq" in o for o in {name: o for name, _, _, o in _stage_runs(tmp_path, tmp_path, alone)}["stage2"])
    # the teacher's complex MCQs: appended by default, not to a row whose stage 2 drops the teacher data
    complex_mcqs = '--data.init_args.train+={"path": "teacher/train", "tasks": ["complex_mcq"], "samples": 400000}'
    assert complex_mcqs in default["stage2"]
    assert complex_mcqs not in {name: o for name, _, _, o in _stage_runs(tmp_path, tmp_path, LearnSettings(), teacher_in_stage2=False)}["stage2"]
    assert not any("complex_mcq" in o for o in {name: o for name, _, _, o in _stage_runs(tmp_path, tmp_path, LearnSettings(stage2_complex_mcq_samples=0))}["stage2"])
    no_teacher = {folder: options for _, folder, options in ABLATION_ROWS if folder}["stage2_no_llm_data"]
    assert complex_mcqs not in {name: o for name, _, _, o in _stage_runs(tmp_path, tmp_path, LearnSettings(), **no_teacher)}["stage2"]


def test_mcqs_are_also_read_by_the_option_their_text_names_beside_their_letter():
    """The learn run's models write one letter for every MCQ and then an option's text ("A. delta"
    with delta as option C): the table keeps the letter's accuracy and adds the text's
    (``accuracy_by_text``), for both arms; a reply that names no option, or only a letter, counts wrong."""
    from cerebragloss.learning import format_learning_table, learning_table, option_named

    def mcq(i, prediction, answer):
        return {"id": f"m{i}", "task": "mcq", "question": "In which frequency band is the posterior dominant rhythm?",
                "options": ["alpha", "beta", "delta", "theta"], "answer": answer, "prediction": prediction}  # fmt: skip

    rows = [mcq(0, "A. delta", "C"), mcq(1, "B. beta", "B"), mcq(2, "A. gamma", "A"), mcq(3, "D", "D")]
    assert [option_named(r) for r in rows] == ["C", "B", None, None]
    scores = question_scores(rows)["mcq:pdr"]
    assert scores["accuracy"] == 0.75 and scores["accuracy_by_text"] == 0.5  # by letter: "A. gamma" and "D" right
    assert question_scores(rows[:3])["mcq:pdr"]["accuracy_by_text"] == pytest.approx(2 / 3)
    blind = question_scores([mcq(0, "D. alpha", "C"), mcq(1, "D. alpha", "B")])
    table = learning_table(question_scores(rows), blind)
    assert table["mcq:pdr"]["accuracy_by_text"] == 0.5 and table["mcq:pdr"]["image_blind_by_text"] == 0.0
    assert "by text" in format_learning_table(table)


def test_mcq_options_in_clinical_order_keep_the_questions_and_move_the_letter_with_the_answer(annotations):
    """``rules.mcq_option_order=clinical`` (the learn run's): the same questions and distractors as
    the shuffled order, listed in each label space's fixed order, the letter still naming the right
    option; a band question always reads delta A, theta B, alpha C, beta D. The other rule samples
    of the page stay as they were."""
    from cerebragloss.synthesis.facts import page_facts
    from cerebragloss.synthesis.rules import (
        RuleSettings,
        clinical_order,
        multiple_choice,
        rule_samples,
    )
    from cerebragloss.synthesis.samples import LETTERS

    bands, reordered = 0, 0
    for annotation in annotations:
        facts = page_facts(annotation)
        shuffled, clinical = multiple_choice(facts, 7), multiple_choice(facts, 7, option_order="clinical")
        assert [q for q, _, _ in shuffled] == [q for q, _, _ in clinical]
        for (_, options, letter), (question, ordered, ordered_letter) in zip(shuffled, clinical, strict=True):
            assert sorted(options) == sorted(ordered) and ordered == clinical_order(options)
            assert ordered[LETTERS.index(ordered_letter)] == options[LETTERS.index(letter)]
            reordered += ordered != options
            if "frequency band" in question:
                assert ordered == ["delta", "theta", "alpha", "beta"]
                bands += 1
        samples = {s["id"]: s for s in rule_samples(annotation, RuleSettings(binary_per_page=6))}
        ordered_samples = rule_samples(annotation, RuleSettings(binary_per_page=6, mcq_option_order="clinical"))
        for sample in ordered_samples:
            if sample["task"] == "mcq":
                assert sample["messages"][-1]["content"] == f"{sample['answer']}. {sample['options'][LETTERS.index(sample['answer'])]}"
            else:
                assert sample["messages"] == samples[sample["id"]]["messages"]
    assert bands and reordered
    with pytest.raises(ValueError, match="mcq_option_order"):
        RuleSettings(mcq_option_order="alphabetical")


def test_stage0_learns_the_engines_sleep_stage_and_nothing_where_none_was_found(annotations):
    """Stage 0's ``sleep:<stage>`` targets: the annotation's ``sleep_state.stage`` one-hot (the
    simulated recordings' hypnogram here: wake to N3), all 0 where the engine found no stage
    (``page_rule``); the page's other targets do not depend on it. Why these labels: the PDR
    question's "no" pages are nearly all N3, its "yes" pages include N2, and no other target parts
    those two delta-dominated stages."""
    from collections import Counter

    stages = Counter()
    for annotation in annotations:
        labels = dict(zip(PAGE_LABELS, page_labels(annotation), strict=True))
        stage = annotation["sleep_state"]["stage"]
        assert [name for name, value in labels.items() if name.startswith("sleep:") and value] == [f"sleep:{stage}"]
        stages[stage] += 1
    assert {"W", "N2", "N3"} <= set(stages), stages
    unstaged = annotations[0] | {"sleep_state": {"stage": None, "source": "page_rule", "note": "no hypnogram"}}
    staged, unknown = page_labels(annotations[0]), page_labels(unstaged)
    assert [v for name, v in zip(PAGE_LABELS, unknown, strict=True) if name.startswith("sleep:")] == [0.0] * 5
    assert [a for name, a in zip(PAGE_LABELS, staged, strict=True) if not name.startswith("sleep:")] == [
        b for name, b in zip(PAGE_LABELS, unknown, strict=True) if not name.startswith("sleep:")
    ]


def test_the_table_pairs_the_two_arms_question_by_question():
    """``paired_scores``: per kind, the questions only one arm got right (matched by id, not by
    position) and the exact McNemar p-value; 10 discordant questions all won by the seeing arm give
    2 x 0.5^10, an even split gives 1.0, and a question the blind arm lacks is left out."""
    from cerebragloss.learning import format_learning_table, learning_table, paired_scores

    def mcq(i, prediction, question="Which frequency band dominates the background?"):
        return {"id": f"m{i}", "task": "mcq", "question": question, "options": ["delta", "theta", "alpha", "beta"], "answer": "A",
                "prediction": prediction}  # fmt: skip

    seeing = [mcq(i, "A. delta") for i in range(10)] + [mcq(10, "A. delta"), mcq(11, "B. theta")]
    blind = [mcq(i, "C. alpha") for i in range(10)] + [mcq(11, "B. theta")]
    paired = paired_scores(seeing, list(reversed(blind)))
    assert paired["mcq:background"] == {"seeing_only": 10, "blind_only": 0, "paired_p": pytest.approx(2 * 0.5**10)}
    assert paired["mcq:all"]["seeing_only"] == 10
    even = paired_scores([mcq(0, "A"), mcq(1, "B")], [mcq(0, "B"), mcq(1, "A")])["mcq:background"]
    assert even == {"seeing_only": 1, "blind_only": 1, "paired_p": 1.0}
    table = learning_table(question_scores(seeing), question_scores(blind), paired)
    assert table["mcq:background"]["seeing_only"] == 10 and "paired p" in format_learning_table(table)
