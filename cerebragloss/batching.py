"""Samples to model batches: chat template, image tokens, labels on assistant turns only.

``encode_sample`` turns one Sample (DESIGN.md) and its page into model inputs with the
Qwen2.5-VL processor: the ``<image>`` placeholder opening the first user turn becomes the image
span (``<|vision_start|><|image_pad|>...<|vision_end|>``, one pad per visual token); labels are
-100 everywhere except the tokens of every assistant turn (its text and closing ``<|im_end|>``).
A sample longer than ``max_length`` is dropped (returned as ``None``), never truncated: cutting
inside the image span would desynchronise image tokens and features, and cutting an answer
teaches a half answer.

``planned_length`` gives a sample's token count *before* the processor runs (the text tokens
plus the image tokens that follow from the page's size and the pixel range), so that streams
group, drop and skip samples while they are still PNG bytes + JSON: a processed full page is
~23 MiB of fp32 ``pixel_values``, its PNG a few tens of KiB.

``collate`` pads a list of encoded samples into a batch (right padding); ``length_grouped`` and
``group_by_length`` batch a stream by similar lengths to cut padding; ``padding_fraction``
measures it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from cerebragloss.synthesis.samples import IMAGE_PLACEHOLDER

IGNORE_INDEX = -100


def chat_messages(sample: dict) -> list[dict]:
    """The Sample's messages in the processor's chat format: the image as a content item."""
    messages = []
    for index, message in enumerate(sample["messages"]):
        text = message["content"]
        if index == 0 and text.startswith(IMAGE_PLACEHOLDER):
            text = text[len(IMAGE_PLACEHOLDER) :].lstrip("\n")
            messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]})
        else:
            messages.append({"role": message["role"], "content": text})
    return messages


def assistant_header(tokenizer) -> list[int]:
    return tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]


def assistant_labels(input_ids: list[int], header: list[int], end_id: int) -> list[int]:
    """Labels for one sequence: each assistant turn's tokens after its header, through its
    ``<|im_end|>``; everything else (system, user turns, image tokens, headers) ignored."""
    labels = [IGNORE_INDEX] * len(input_ids)
    position, width = 0, len(header)
    while position <= len(input_ids) - width:
        if input_ids[position : position + width] == header:
            position += width
            while position < len(input_ids):
                labels[position] = input_ids[position]
                position += 1
                if input_ids[position - 1] == end_id:
                    break
        else:
            position += 1
    return labels


def labelled_turns(input_ids: list[int], header: list[int]) -> int:
    """How many assistant turns the labels of ``assistant_labels`` cover (headers found)."""
    width = len(header)
    return sum(input_ids[i : i + width] == header for i in range(len(input_ids) - width + 1))


def image_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the PNG header, without decoding the pixels."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.size


def image_tokens(width: int, height: int, processor) -> int:
    """Visual tokens the processor makes of a ``width`` x ``height`` image: resized (aspect kept)
    into its pixel range in multiples of patch x merge (28 px), one token per 28 x 28 block."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    images = processor.image_processor
    factor = images.patch_size * images.merge_size
    resized_height, resized_width = smart_resize(height, width, factor, images.size["shortest_edge"], images.size["longest_edge"])
    return (resized_height // factor) * (resized_width // factor)


def planned_length(sample: dict, png: bytes, processor, prompt_only: bool = False) -> tuple[int, bool]:
    """(tokens the encoded sample will have, whether every assistant turn gets labels), from the
    text and the PNG header only. ``prompt_only``: the generation prompt of ``encode_prompt``."""
    messages = chat_messages(sample)
    if prompt_only:
        text = processor.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    else:
        text = processor.apply_chat_template(messages, tokenize=False)
    tokenizer = processor.tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    pads = text.count("<|image_pad|>")
    tokens = len(ids) - pads + pads * image_tokens(*image_size(png), processor)
    if prompt_only:
        return tokens, True
    assistant_turns = sum(m["role"] == "assistant" for m in sample["messages"])
    return tokens, labelled_turns(ids, assistant_header(tokenizer)) == assistant_turns


def load_image(png: bytes):
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB")


def encode_sample(sample: dict, image, processor, max_length: int) -> dict | None:
    """Model inputs of one sample (tensors without a batch dimension), or ``None`` when the
    encoded sample is longer than ``max_length`` tokens."""
    text = processor.apply_chat_template(chat_messages(sample), tokenize=False)
    encoded = processor(text=[text], images=[image], return_tensors="pt")
    input_ids = encoded["input_ids"][0]
    if len(input_ids) > max_length:
        return None
    tokenizer = processor.tokenizer
    labels = assistant_labels(input_ids.tolist(), assistant_header(tokenizer), tokenizer.convert_tokens_to_ids("<|im_end|>"))
    item = {
        "input_ids": input_ids,
        "attention_mask": encoded["attention_mask"][0],
        "labels": torch.tensor(labels),
        "pixel_values": encoded["pixel_values"],
        "image_grid_thw": encoded["image_grid_thw"],
        "id": sample["id"],
    }
    if "mm_token_type_ids" in encoded:
        item["mm_token_type_ids"] = encoded["mm_token_type_ids"][0]
    return item


def collate(items: list[dict], pad_id: int) -> dict:
    """Right-padded batch of encoded samples; images concatenated in sample order."""
    longest = max(len(item["input_ids"]) for item in items)

    def pad(key: str, value: int) -> torch.Tensor:
        out = torch.full((len(items), longest), value, dtype=items[0][key].dtype)
        for row, item in enumerate(items):
            out[row, : len(item[key])] = item[key]
        return out

    batch = {
        "input_ids": pad("input_ids", pad_id),
        "attention_mask": pad("attention_mask", 0),
        "labels": pad("labels", IGNORE_INDEX),
        "pixel_values": torch.cat([item["pixel_values"] for item in items]),
        "image_grid_thw": torch.cat([item["image_grid_thw"] for item in items]),
        "ids": [item["id"] for item in items],
    }
    if "mm_token_type_ids" in items[0]:
        batch["mm_token_type_ids"] = pad("mm_token_type_ids", 0)
    if "png" in items[0]:
        batch["pngs"] = [item["png"] for item in items]
    return batch


def padding_fraction(batch: dict) -> float:
    mask = batch["attention_mask"]
    return float(1.0 - mask.sum() / mask.numel())


def group_by_length(items: Iterable, sizes: list[int], buffer_batches: int, rng: np.random.Generator, length,
                    bucket: int = 1) -> Iterator[tuple[list, int]]:  # fmt: skip
    """Exactly ``len(sizes)`` batches, ``(items, repeated)``, of the planned ``sizes`` (a stream's
    share of an epoch): each window of ``buffer_batches`` batches' worth of items is sorted by
    ``length(item) // bucket`` (items of one bucket keep their arrival order), cut into the
    window's sizes, and those batches leave in a shuffled order (``buffer_batches=1``: arrival
    order). An exact sort (``bucket=1``) lines up samples of one template, e.g. every "No, ..."
    answer of one length; a bucket of a few tokens mixes them for a few pad tokens. When the stream runs short (skipped samples), what is
    left is spread over every batch still planned, so every rank keeps the same step count; only
    when fewer items than batches are left are items repeated (``repeated`` counts them)."""
    from itertools import islice

    stream = iter(items)
    position, last = 0, None
    while position < len(sizes):
        window = sizes[position : position + buffer_batches]
        chunk = list(islice(stream, sum(window)))
        repeated = 0
        if len(chunk) < sum(window):
            window = spread(len(chunk), len(sizes) - position)
            if len(chunk) < len(window):
                if not chunk and last is None:
                    raise RuntimeError(f"no sample left for {len(window)} planned batches (every sample of this worker was skipped)")
                filler = chunk or [last]
                repeated = len(window) - len(chunk)
                chunk = chunk + [filler[i % len(filler)] for i in range(repeated)]
                window = [1] * len(window)
        if buffer_batches > 1:
            chunk.sort(key=lambda item: length(item) // max(1, bucket))
        starts = np.cumsum([0, *window])
        batches = [chunk[starts[i] : starts[i + 1]] for i in range(len(window))]
        order = rng.permutation(len(batches)) if buffer_batches > 1 else range(len(batches))
        for number, index in enumerate(order):
            yield batches[index], repeated if number == 0 else 0
        last = chunk[-1] if chunk else last
        position += len(window)


def spread(items: int, batches: int) -> list[int]:
    """``items`` over ``batches`` as evenly as possible (the larger ones first)."""
    return [items // batches + (i < items % batches) for i in range(batches)]


def length_grouped(items: Iterable[dict], batch_size: int, buffer_batches: int = 16, seed: int = 0) -> Iterator[list[dict]]:
    """Lists of ``batch_size`` items of similar length: ``buffer_batches`` batches' worth of items
    are sorted by length, cut into batches, and those batches leave in a shuffled order (so a
    stream does not go short-to-long). ``buffer_batches=1`` is plain batching in arrival order."""
    rng = np.random.default_rng(seed)
    buffer: list[dict] = []
    capacity = batch_size * buffer_batches

    def flush(final: bool) -> Iterator[list[dict]]:
        if buffer_batches > 1:
            buffer.sort(key=lambda item: len(item["input_ids"]))
        batches = [buffer[i : i + batch_size] for i in range(0, len(buffer), batch_size)]
        if not final and batches and len(batches[-1]) < batch_size:
            leftover = batches.pop()
        else:
            leftover = []
        order = rng.permutation(len(batches)) if buffer_batches > 1 else range(len(batches))
        buffer[:] = leftover
        for index in order:
            yield batches[index]

    for item in items:
        buffer.append(item)
        if len(buffer) >= capacity:
            yield from flush(final=False)
    if buffer:
        yield from flush(final=True)


def encode_prompt(sample: dict, image, processor, max_length: int) -> dict | None:
    """Inputs to generate a sample's last assistant turn: every turn before it (earlier answers
    as history) plus the assistant header; the last answer is the reference. ``None`` when the
    prompt is longer than ``max_length``."""
    messages = chat_messages(sample)
    if messages[-1]["role"] != "assistant":
        raise ValueError(f"sample {sample['id']}: the last turn is not the assistant's")
    text = processor.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    encoded = processor(text=[text], images=[image], return_tensors="pt")
    if encoded["input_ids"].shape[1] > max_length:
        return None
    item = {
        "input_ids": encoded["input_ids"][0],
        "attention_mask": encoded["attention_mask"][0],
        "pixel_values": encoded["pixel_values"],
        "image_grid_thw": encoded["image_grid_thw"],
        "id": sample["id"],
        "reference": sample["messages"][-1]["content"],
        "sample": {k: v for k, v in sample.items() if k != "annotation"},
    }
    if "mm_token_type_ids" in encoded:
        item["mm_token_type_ids"] = encoded["mm_token_type_ids"][0]
    return item


def collate_prompts(items: list[dict], pad_id: int) -> dict:
    """Left-padded prompts (generation continues every row at the same position)."""
    longest = max(len(item["input_ids"]) for item in items)

    def pad(key: str, value: int) -> torch.Tensor:
        out = torch.full((len(items), longest), value, dtype=items[0][key].dtype)
        for row, item in enumerate(items):
            out[row, longest - len(item[key]) :] = item[key]
        return out

    batch = {
        "input_ids": pad("input_ids", pad_id),
        "attention_mask": pad("attention_mask", 0),
        "pixel_values": torch.cat([item["pixel_values"] for item in items]),
        "image_grid_thw": torch.cat([item["image_grid_thw"] for item in items]),
        "ids": [item["id"] for item in items],
        "references": [item["reference"] for item in items],
        "samples": [item["sample"] for item in items],
    }
    if "mm_token_type_ids" in items[0]:
        batch["mm_token_type_ids"] = pad("mm_token_type_ids", 0)
    if "png" in items[0]:
        batch["pngs"] = [item["png"] for item in items]
    return batch


def prompts_from_batch(batch: dict, count: int, pad_id: int) -> dict | None:
    """Generation prompts (the ``collate_prompts`` layout, left-padded) of the first ``count``
    rows of a training batch: each row up to its first labelled token, with its page and its
    ``mm_token_type_ids`` (Qwen2.5-VL builds 3D positions from them); the reference is the first
    answer. ``None`` when no row has a label."""
    grids = batch["image_grid_thw"]
    patches = (grids[:, 0] * grids[:, 1] * grids[:, 2]).tolist()
    starts = [sum(patches[:i]) for i in range(len(patches))]
    items = []
    for row in range(min(count, len(batch["input_ids"]))):
        labelled = (batch["labels"][row] != IGNORE_INDEX).nonzero().flatten()
        if len(labelled) == 0:
            continue
        start = int(labelled[0])
        gaps = (labelled[1:] - labelled[:-1] != 1).nonzero().flatten()
        end = int(labelled[int(gaps[0])]) + 1 if len(gaps) else int(labelled[-1]) + 1
        item = {
            "input_ids": batch["input_ids"][row, :start],
            "attention_mask": torch.ones(start, dtype=batch["attention_mask"].dtype),
            "pixel_values": batch["pixel_values"][starts[row] : starts[row] + patches[row]],
            "image_grid_thw": grids[row : row + 1],
            "id": batch["ids"][row],
            "reference": batch["input_ids"][row, start:end],
            "sample": {"id": batch["ids"][row]},
        }
        if "mm_token_type_ids" in batch:
            item["mm_token_type_ids"] = batch["mm_token_type_ids"][row, :start]
        if "pngs" in batch:
            item["png"] = batch["pngs"][row]
        items.append(item)
    return collate_prompts(items, pad_id) if items else None
