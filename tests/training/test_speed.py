"""The speed work of issue 13, checked on a CPU: one attention call per vision layer with the same
numbers as transformers' path, nothing recorded through the frozen vision tower under gradient
checkpointing, frozen parts held in bf16, the loss on labelled positions equal to the full one, and
the counts that stand in for GPU time."""

from __future__ import annotations

import pytest
import torch

from cerebragloss.model import PixelRange, build_processor, freeze_for_stage, load_model
from cerebragloss.speed_bench import BEFORE, cpu_proxy, synthetic_batches
from cerebragloss.training import SpeedSettings, count_step, prepare_for_training, training_loss
from cerebragloss.vision_attention import use_vision_attention

PIXELS = PixelRange(min_pixels=64 * 784, max_pixels=128 * 784)


@pytest.fixture(scope="module")
def batch() -> dict:
    return synthetic_batches(build_processor(PIXELS), batch_size=2, count=1)[0]


def _pixels(grids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    grid = torch.tensor(grids)
    return torch.randn(int(grid.prod(-1).sum()), 3 * 2 * 14 * 14), grid


def _assert_batched_attention_matches_sdpa(model, pixel_values, grid) -> None:
    outputs = {}
    for name in ("sdpa", "windowed_batched"):
        use_vision_attention(model, name)
        with torch.no_grad():
            outputs[name] = model.model.visual(pixel_values, grid_thw=grid).pooler_output
    torch.testing.assert_close(outputs["windowed_batched"], outputs["sdpa"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("grids", [[[1, 16, 28]], [[1, 54, 96]], [[1, 16, 28], [1, 10, 14], [1, 22, 6]]],
                         ids=["one page", "full page", "three sizes with edge windows"])  # fmt: skip
def test_batched_window_attention_matches_transformers_sdpa(grids):
    torch.manual_seed(0)
    model = load_model(preset="tiny")
    pixel_values, grid = _pixels(grids)
    _assert_batched_attention_matches_sdpa(model, pixel_values, grid)


def test_segments_too_long_for_a_padded_batch_are_attended_one_by_one(monkeypatch):
    # Whole-image layers over pages of different sizes would need a [images, heads, L, L] mask.
    import cerebragloss.vision_attention as vision_attention

    monkeypatch.setattr(vision_attention, "_LONGEST_MASKED_SEGMENT", 100)
    torch.manual_seed(0)
    model = load_model(preset="tiny")
    pixel_values, grid = _pixels([[1, 16, 28], [1, 10, 14]])
    _assert_batched_attention_matches_sdpa(model, pixel_values, grid)


@pytest.mark.parametrize("stage", [1, 2])
def test_with_gradient_checkpointing_nothing_in_the_vision_tower_requires_grad_or_runs_backward(stage, batch):
    def vision_backward_calls(speed: SpeedSettings) -> tuple[int, int]:
        torch.manual_seed(0)
        model = load_model(preset="tiny")
        model.train()
        freeze_for_stage(model, stage)
        prepare_for_training(model, stage, speed, gradient_checkpointing=True, autocast_dtype=None)
        backward = []
        for block in model.model.visual.blocks:
            block.attn.register_full_backward_hook(lambda module, grad_in, grad_out: backward.append(module))
        counts = count_step(model, batch, speed)
        return counts["vision_outputs_requiring_grad"], len(backward)

    assert vision_backward_calls(SpeedSettings()) == (0, 0)
    # transformers' gradient_checkpointing_enable hooks the vision tower's patch_embed (the code
    # before issue 13): its blocks then record autograd and run backward
    requiring, backward = vision_backward_calls(BEFORE)
    assert requiring > 0 and backward > 0


def test_the_cpu_proxy_counts_one_attention_call_per_vision_layer():
    rows = {row.name: row for row in cpu_proxy(batch_size=1)}
    layers_vision, layers_llm = 2, 2  # the tiny preset
    for stage in (1, 2):
        before, after = rows[f"tiny stage {stage} before"], rows[f"tiny stage {stage} after"]
        # forward: one call per vision layer, each LLM layer twice (forward + checkpoint recompute)
        assert after.attention_forward == layers_vision + 2 * layers_llm
        assert after.attention_backward == layers_llm and after.vision_outputs_requiring_grad == 0
        # before: a call per window and image, the vision tower recomputed and backpropagated
        assert before.attention_forward > 2 * after.attention_forward and before.attention_backward > 5 * after.attention_backward
        assert before.vision_outputs_requiring_grad > 0
        assert after.autograd_nodes < 0.7 * before.autograd_nodes


@pytest.mark.parametrize("stage", [1, 2])
def test_the_loss_on_labelled_positions_equals_the_full_logits_loss(stage, batch):
    losses, grads = {}, {}
    for positions in ("labelled", "all"):
        torch.manual_seed(0)
        model = load_model(preset="tiny")
        freeze_for_stage(model, stage)
        speed = SpeedSettings(loss_positions=positions)
        prepare_for_training(model, stage, speed, gradient_checkpointing=False, autocast_dtype=None)
        loss = training_loss(model, batch, speed)
        loss.backward()
        losses[positions] = loss.detach()
        grads[positions] = model.model.visual.merger.mlp[0].weight.grad.clone()
    torch.testing.assert_close(losses["labelled"], losses["all"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads["labelled"], grads["all"], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("stage", [1, 2])
def test_frozen_parts_are_held_in_bf16_under_bf16_autocast(stage, batch):
    torch.manual_seed(0)
    model = load_model(preset="tiny")
    freeze_for_stage(model, stage)
    prepare_for_training(model, stage, SpeedSettings(), gradient_checkpointing=True, autocast_dtype=torch.bfloat16)
    vision = model.model.visual
    assert {p.dtype for n, p in vision.named_parameters() if not n.startswith("merger.")} == {torch.bfloat16}
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}  # master weights of what trains
    llm = {p.dtype for p in model.model.language_model.parameters()}
    assert llm == ({torch.bfloat16} if stage == 1 else {torch.float32})
    # buffers keep their precision (rotary frequencies)
    assert {b.dtype for b in model.buffers() if b.is_floating_point()} == {torch.float32}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = training_loss(model, batch, SpeedSettings())
    loss.backward()
    assert torch.isfinite(loss) and model.model.visual.merger.mlp[0].weight.grad is not None


def test_an_unknown_or_unavailable_attention_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="model.vision_attention='flash_attention_2' is not known; choose one of"):
        SpeedSettings(vision_attention="flash_attention_2")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="model.vision_attention=varlen runs on CUDA only.*windowed_batched"):
            SpeedSettings(vision_attention="varlen")
    with pytest.raises(ValueError, match="model.loss_positions='some'.*model.frozen_dtype='fp8'"):  # all problems at once
        SpeedSettings(loss_positions="some", frozen_dtype="fp8")
