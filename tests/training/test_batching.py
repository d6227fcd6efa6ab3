"""From Samples to model batches: chat template, image span, labels on assistant turns only."""

from __future__ import annotations

import torch

from cerebragloss.batching import (
    IGNORE_INDEX,
    collate,
    encode_sample,
    length_grouped,
    load_image,
    padding_fraction,
)
from cerebragloss.model import PixelRange, build_processor
from cerebragloss.shards import iter_shard_set

PIXELS = PixelRange(min_pixels=64 * 784, max_pixels=128 * 784)


def _first(shard_set, task):
    return next((s, png) for s, png in iter_shard_set(shard_set) if s["task"] == task)


def test_only_assistant_turns_carry_labels_in_every_turn_of_a_conversation(shard_root):
    processor = build_processor(PIXELS)
    sample, png = _first(shard_root / "teacher" / "train", "conversation")
    item = encode_sample(sample, load_image(png), processor, max_length=4096)
    labelled = item["labels"] != IGNORE_INDEX
    assert torch.equal(item["labels"][labelled], item["input_ids"][labelled])
    # the labelled spans decode to exactly the assistant turns, each closed by <|im_end|>
    tokenizer = processor.tokenizer
    spans, current = [], []
    for token, keep in zip(item["input_ids"].tolist(), labelled.tolist(), strict=True):
        if keep:
            current.append(token)
        elif current:
            spans.append(tokenizer.decode(current))
            current = []
    answers = [m["content"] for m in sample["messages"] if m["role"] == "assistant"]
    assert len(answers) >= 2 and spans == [f"{answer}<|im_end|>" for answer in answers]
    # nothing of the system prompt, the user turns or the image is labelled
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert (item["input_ids"] == image_pad).sum() == item["image_grid_thw"].prod() // 4
    assert not labelled[item["input_ids"] == image_pad].any()
    for question in [m["content"] for m in sample["messages"] if m["role"] == "user"]:
        assert question.replace("<image>\n", "") not in "".join(spans)


def test_an_over_long_sample_is_dropped_not_truncated(shard_root):
    processor = build_processor(PIXELS)
    sample, png = _first(shard_root / "rules" / "train", "caption")
    full = encode_sample(sample, load_image(png), processor, max_length=4096)
    assert encode_sample(sample, load_image(png), processor, max_length=len(full["input_ids"]) - 1) is None
    assert encode_sample(sample, load_image(png), processor, max_length=len(full["input_ids"])) is not None


def test_collate_pads_right_and_keeps_images_in_order(shard_root):
    processor = build_processor(PIXELS)
    items = [encode_sample(s, load_image(p), processor, 4096) for s, p in list(iter_shard_set(shard_root / "rules" / "train"))[:3]]
    batch = collate(items, processor.tokenizer.pad_token_id)
    lengths = [len(i["input_ids"]) for i in items]
    assert batch["input_ids"].shape == (3, max(lengths))
    for row, length in enumerate(lengths):
        assert batch["attention_mask"][row].sum() == length
        assert (batch["labels"][row, length:] == IGNORE_INDEX).all()
    assert batch["pixel_values"].shape[0] == sum(int(i["image_grid_thw"].prod()) for i in items)
    assert batch["ids"] == [i["id"] for i in items]
    assert 0 <= padding_fraction(batch) < 1


def test_length_grouping_batches_similar_lengths_and_keeps_every_item():
    items = [{"input_ids": torch.zeros(n), "id": str(i)} for i, n in enumerate([5, 90, 7, 88, 6, 91, 8, 87, 50])]
    grouped = list(length_grouped(items, batch_size=2, buffer_batches=8, seed=0))
    assert sorted(i["id"] for b in grouped for i in b) == sorted(i["id"] for i in items)
    spreads = [max(len(i["input_ids"]) for i in b) - min(len(i["input_ids"]) for i in b) for b in grouped if len(b) == 2]
    assert max(spreads) <= 43  # neighbours in length order; plain batching pairs 5 with 90
    plain = list(length_grouped(items, batch_size=2, buffer_batches=1))
    assert [i["id"] for b in plain for i in b] == [i["id"] for i in items]


def test_the_token_count_known_before_the_processor_equals_the_encoded_length(shard_root):
    from cerebragloss.batching import encode_prompt, planned_length

    processor = build_processor(PIXELS)
    pairs = [pair for folder in ("rules/train", "teacher/train", "general/llava") for pair in list(iter_shard_set(shard_root / folder))[:6]]
    assert len({load_image(png).size for _, png in pairs}) > 1  # pages and general images of several sizes
    for sample, png in pairs:
        length, labelled = planned_length(sample, png, processor)
        assert labelled and length == len(encode_sample(sample, load_image(png), processor, 10**6)["input_ids"])
        prompt_length, _ = planned_length(sample, png, processor, prompt_only=True)
        assert prompt_length == len(encode_prompt(sample, load_image(png), processor, 10**6)["input_ids"])


def test_generation_prompts_cut_from_a_training_batch_equal_the_test_prompts(shard_root):
    from cerebragloss.batching import collate_prompts, encode_prompt, prompts_from_batch

    processor = build_processor(PIXELS)
    pairs = [(s, p) for s, p in iter_shard_set(shard_root / "rules" / "val") if len(s["messages"]) == 2][:3]
    pad = processor.tokenizer.pad_token_id
    training = collate([encode_sample(s, load_image(p), processor, 4096) for s, p in pairs], pad)
    cut = prompts_from_batch(training, 3, pad)
    expected = collate_prompts([encode_prompt(s, load_image(p), processor, 4096) for s, p in pairs], pad)
    for key in ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw"):
        assert torch.equal(cut[key], expected[key]), key
    assert [processor.tokenizer.decode(r, skip_special_tokens=True) for r in cut["references"]] == [s["messages"][-1]["content"] for s, _ in pairs]
