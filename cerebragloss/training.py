"""How the model runs in a training step: nothing recorded through frozen parts, frozen parts held
in bf16, the loss computed on labelled positions only, and the counts that show it on a CPU.

What the GPU profile of the first real run (issue 13) found, and what each function here changes:

- ``gradient_checkpointing_enable()`` in transformers 5 also calls ``enable_input_require_grads()``,
  which hooks every sub-model's input embeddings, the vision tower's ``patch_embed`` included: the
  frozen tower's activations then require grad, autograd records it, and its backward runs
  although nothing in it trains. ``prepare_for_training`` removes those hooks (non-reentrant
  checkpointing, the only kind used here, does not need inputs that require grad) and turns
  checkpointing off in the vision blocks (nothing there is saved for a backward).
- Under bf16 autocast, fp32 weights are cast to bf16 on every forward (``aten::copy_`` was 13 % of
  GPU time). Frozen weights never change, so ``prepare_for_training`` casts them once.
- The head's logits over the 151,936-token vocabulary, in fp32, for every position, although only
  ~8 % of positions carry a label: ``labelled_positions_loss`` runs the head on those only.
- The vision tower's window attention: see ``cerebragloss.vision_attention``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cerebragloss.batching import IGNORE_INDEX
from cerebragloss.model import language_model, projector, vision_encoder
from cerebragloss.vision_attention import check_vision_attention, use_vision_attention

LOSS_POSITIONS = ("labelled", "all")
FROZEN_DTYPES = ("auto", "bf16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


@dataclass
class SpeedSettings:
    """How a training step is run (every choice keeps the numerics; the legacy values exist to
    measure the difference, see ``tools/bench_gpu.py``).

    Args:
        vision_attention: ``auto`` (varlen on CUDA in half precision, else windowed_batched),
            ``sdpa`` (transformers: one call per window), ``windowed_batched`` (one call per
            layer, runs anywhere), ``varlen`` (torch's varlen flash kernel, CUDA).
        loss_positions: ``labelled`` = the head runs on labelled positions only; ``all`` = full logits.
        frozen_dtype: dtype the frozen parts are held in: ``auto`` = bf16 when training under bf16
            autocast, else as loaded.
        vision_input_grads: keep transformers' input-require-grads hook on the vision tower (the
            old behaviour: the frozen tower is backpropagated through); only for measuring.
        compile: ``torch.compile`` each language-model decoder layer (regional compilation).
        checkpoint_every_n_layers: with gradient checkpointing, recompute every n-th decoder layer
            only (1 = all, 2 = half, 0 = none): memory left over buys back the recompute.
    """

    vision_attention: str = "auto"
    loss_positions: str = "labelled"
    frozen_dtype: str = "auto"
    vision_input_grads: bool = False
    compile: bool = False
    checkpoint_every_n_layers: int = 1

    def __post_init__(self):
        problems = []
        if self.checkpoint_every_n_layers < 0:
            problems.append(f"model.checkpoint_every_n_layers={self.checkpoint_every_n_layers}: use 1 (all), n (every n-th) or 0 (none)")
        try:
            check_vision_attention(self.vision_attention)
        except ValueError as error:
            problems.append(str(error))
        if self.loss_positions not in LOSS_POSITIONS:
            problems.append(f"model.loss_positions={self.loss_positions!r}: choose one of {', '.join(LOSS_POSITIONS)}")
        if self.frozen_dtype not in FROZEN_DTYPES:
            problems.append(f"model.frozen_dtype={self.frozen_dtype!r}: choose one of {', '.join(FROZEN_DTYPES)}")
        if problems:
            raise ValueError("; ".join(problems))


def frozen_modules(model, stage: int) -> list[torch.nn.Module]:
    """Modules whose every parameter is frozen in the stage (the vision encoder, and in stage 1 the
    language model with its head, whose weight is the tied input embedding)."""
    visual = model.model.visual
    found = [visual.patch_embed, visual.blocks]
    if stage == 1:
        found += [model.model.language_model, model.lm_head]
    return found


def prepare_for_training(model, stage: int, speed: SpeedSettings, gradient_checkpointing: bool, autocast_dtype: torch.dtype | None) -> None:
    """Set up a frozen (``freeze_for_stage``) model for training steps, as the module docstring says.
    ``autocast_dtype``: the dtype of the trainer's autocast (None = none; frozen parts then stay as
    loaded, since a bf16 weight meets fp32 activations only under autocast)."""
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        if not speed.vision_input_grads:
            model.disable_input_require_grads()
        for block in model.model.visual.blocks:
            block.gradient_checkpointing = False
        every = speed.checkpoint_every_n_layers
        for index, layer in enumerate(model.model.language_model.layers):
            layer.gradient_checkpointing = every > 0 and index % every == 0
    use_vision_attention(model, speed.vision_attention)
    dtype = _DTYPES.get(speed.frozen_dtype) or (autocast_dtype if autocast_dtype == torch.bfloat16 else None)
    if dtype is not None:
        for module in frozen_modules(model, stage):
            # parameters only: buffers such as the rotary inv_freq must keep fp32 precision
            for parameter in module.parameters():
                parameter.data = parameter.data.to(dtype)
        if any(p.requires_grad and p.dtype != torch.float32 for p in model.parameters()):
            raise AssertionError("a trainable parameter left fp32 (its optimizer needs fp32 master weights)")
    if speed.compile:
        for layer in model.model.language_model.layers:
            layer.compile(dynamic=True)  # batch lengths vary: one graph for all, not one per length


def labelled_positions_loss(model, inputs: dict, labels: torch.Tensor, per_sample: bool = False, answer_start_weight: float = 1.0) -> torch.Tensor:
    """Next-token cross-entropy, mean over labelled positions (what transformers' loss computes),
    with the head applied to those positions only: ~8 % of a VLM sample's tokens are answer
    tokens, so the [tokens, 151,936] logits shrink ~12x. Logits in the autocast dtype, loss in fp32.
    ``per_sample``: the mean over samples of each sample's mean token loss instead (``sample_mean``),
    each answer's first token weighing ``answer_start_weight`` tokens (``answer_starts``)."""
    hidden = model.model(**inputs, use_cache=False)[0]
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = model.lm_head(hidden[:, :-1][keep])
    if not per_sample:
        return F.cross_entropy(logits.float(), targets[keep])
    losses = F.cross_entropy(logits.float(), targets[keep], reduction="none")
    rows = torch.arange(len(targets), device=targets.device).unsqueeze(1).expand_as(targets)[keep]
    weights = None
    if answer_start_weight != 1.0:
        weights = torch.where(answer_starts(keep)[keep], answer_start_weight, 1.0).to(losses.dtype)
    return sample_mean(losses, rows, len(targets), weights)


def answer_starts(labelled: torch.Tensor) -> torch.Tensor:
    """[batch, positions] bool: the first labelled position of each run of labelled positions,
    i.e. the first token of each answer (an MCQ's letter, a yes/no question's "Yes"/"No")."""
    before = F.pad(labelled[:, :-1], (1, 0), value=False)
    return labelled & ~before


def sample_mean(token_losses: torch.Tensor, rows: torch.Tensor, samples: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The mean over samples (those with a labelled token) of each sample's mean token loss
    (weighted by ``weights`` per token where given).
    Why: a token mean weighs a sample by its answer's length, so in a batch that mixes one-word
    answers with ~150-token descriptions the short answers get a small share of the gradient."""
    if weights is None:
        weights = torch.ones_like(token_losses)
    totals = torch.zeros(samples, dtype=token_losses.dtype, device=token_losses.device).index_add_(0, rows, token_losses * weights)
    counts = torch.zeros(samples, dtype=weights.dtype, device=weights.device).index_add_(0, rows, weights)
    present = counts > 0
    return (totals[present] / counts[present]).mean()


def training_loss(model, batch: dict, speed: SpeedSettings, per_sample: bool = False, answer_start_weight: float = 1.0) -> torch.Tensor:
    """The loss of a batch (model inputs plus ``labels``; other keys ignored by the caller);
    ``per_sample``: averaged per sample first (``sample_mean``), on labelled positions only, each
    answer's first token weighing ``answer_start_weight`` tokens."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if per_sample:
        return labelled_positions_loss(model, inputs, batch["labels"], per_sample=True, answer_start_weight=answer_start_weight)
    if answer_start_weight != 1.0:
        raise ValueError("answer_start_weight needs the per-sample loss (FromScratchVLMModule(loss_average='samples'))")
    if speed.loss_positions == "all":
        return model(**inputs, labels=batch["labels"], use_cache=False).loss
    return labelled_positions_loss(model, inputs, batch["labels"])


def gradient_accumulation_correction(strategy_divides_by_accumulation: bool, accumulate_grad_batches: int) -> int:
    """Factor for the loss a training step returns. Lightning divides the returned loss by
    ``accumulate_grad_batches``; DeepSpeed's engine divides it again in its ``backward`` (its
    ``gradient_accumulation_steps`` is set to the same number), so gradients and clipping would be
    ``accumulate_grad_batches`` times smaller than under DDP. Where the strategy divides, the step
    returns the loss multiplied back once."""
    return accumulate_grad_batches if strategy_divides_by_accumulation else 1


def autograd_nodes(loss: torch.Tensor) -> int:
    """Nodes of the backward graph of ``loss`` (AccumulateGrad leaves included)."""
    seen, stack = set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return len(seen)


def count_step(model, batch: dict, speed: SpeedSettings) -> dict[str, int]:
    """One forward and backward of ``training_loss``, counted: attention kernel calls forward and
    backward (all of them, vision and language), autograd nodes, and vision-tower outputs that
    required grad. The CPU-visible proxy of the speed work (``tools/bench_gpu.py`` prints it,
    a test pins it)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class AttentionCalls(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.forward = self.backward = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func)
            if "scaled_dot_product" in name or "varlen" in name or "flash_attention" in name or "efficient_attention" in name:
                if "backward" in name:
                    self.backward += 1
                else:
                    self.forward += 1
            return func(*args, **(kwargs or {}))

    recorded = []
    hooks = [block.register_forward_hook(lambda module, args, output: recorded.append(output.requires_grad))
             for block in model.model.visual.blocks]  # fmt: skip
    try:
        with AttentionCalls() as calls:
            loss = training_loss(model, batch, speed)
            nodes = autograd_nodes(loss)
            loss.backward()
    finally:
        for hook in hooks:
            hook.remove()
    return {"attention_forward": calls.forward, "attention_backward": calls.backward, "autograd_nodes": nodes,
            "vision_outputs_requiring_grad": sum(recorded)}  # fmt: skip


def parameter_counts(model) -> dict[str, int]:
    """Parameters per part (for FLOP counts)."""
    return {"vision_encoder": sum(p.numel() for p in vision_encoder(model)), "projector": sum(p.numel() for p in projector(model)),
            "language_model": sum(p.numel() for p in language_model(model))}  # fmt: skip


def is_zero3_partitioned(model) -> bool:
    """Whether DeepSpeed ZeRO-3 holds the parameters partitioned (each rank a slice)."""
    return any(hasattr(p, "ds_id") for p in model.parameters())


def gathered_state_dict(model, keep: bool, parameters_per_gather: int = 64) -> dict[str, torch.Tensor] | None:
    """The full state dict of a ZeRO-3 model, on the CPU, where ``keep`` (rank 0); None elsewhere.
    Every rank must call it: each gather collects slices from all ranks. Parameters are gathered a
    few at a time, so a rank never holds more than one group in full besides what it keeps.
    Without ZeRO-3 this is the plain state dict."""
    if not is_zero3_partitioned(model):
        return model.state_dict() if keep else None
    import deepspeed

    entries = model.state_dict(keep_vars=True)  # name -> the partitioned Parameter itself, or a buffer
    names_of: dict[int, list[str]] = {}
    for name, tensor in entries.items():
        names_of.setdefault(id(tensor), []).append(name)  # tied weights: one tensor, two names
    parameters = list({id(p): p for p in model.parameters()}.values())
    found: dict[str, torch.Tensor] = {}
    for start in range(0, len(parameters), parameters_per_gather):
        group = parameters[start : start + parameters_per_gather]
        with deepspeed.zero.GatheredParameters(group, modifier_rank=None):
            if keep:
                for parameter in group:
                    full = parameter.detach().to("cpu", copy=True)
                    for name in names_of.get(id(parameter), []):
                        found[name] = full
    if not keep:
        return None
    for name, tensor in entries.items():
        if name not in found:  # buffers are not partitioned
            found[name] = tensor.detach().cpu()
    return found
