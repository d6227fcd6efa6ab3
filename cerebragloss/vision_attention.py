"""Attention of the Qwen2.5-VL vision tower as one call per layer instead of one per window.

The tower attends within windows of 8 x 8 patches (28 of the 3B model's 32 layers) or within each
image (the other 4). transformers' ``sdpa`` path splits the sequence at ``cu_seqlens`` and calls
attention once per window in a Python loop: ~84 windows per 1344 x 756 page, x 28 layers x 4
pages = ~9,400 small calls per forward, and the step is CPU-bound. Only flash-style (varlen)
implementations take the ``cu_seqlens`` in one call, and the flash-attn package is not on our GPU
image. The implementations here:

- ``sdpa``: transformers' own path (the reference; one call per window).
- ``windowed_batched``: the windows gathered into a ``[windows, longest window]`` batch, padded
  keys masked out, one ``F.scaled_dot_product_attention`` call per layer. Edge windows are shorter
  (a 27-token-high page leaves 3-token-high windows in the last row), so ~1/7 of the rows carry
  padding; equal-length segments (the whole-image layers of equal pages) need no mask. Runs
  everywhere torch does (CPU included), so it is tested against ``sdpa`` on CPU.
- ``varlen``: torch's own variable-length flash kernel (``torch.nn.attention.varlen``, CUDA,
  bf16/fp16), no padding at all, where the installed torch has it.
- ``auto`` (the default): ``varlen`` for CUDA bf16/fp16 activations where torch has it, else
  ``windowed_batched``, decided per call (generation outside autocast, CPU tests and GPU
  training each get the one that runs). On an H100 varlen was 2 % faster per stage-2 step.

``use_vision_attention(model, name)`` installs one on every vision block of a loaded model (it
replaces the blocks' attention ``forward``; weights and their names are unchanged, so export and
loading are not affected).
"""

from __future__ import annotations

import importlib.util
from functools import partial

import torch
import torch.nn.functional as F

VISION_ATTENTION = ("auto", "sdpa", "windowed_batched", "varlen")

#: Above this segment length a padded batch would hold a [segments, heads, L, L] mask of hundreds of
#: MB (whole-image layers over pages of different sizes): those few segments are attended one by one.
_LONGEST_MASKED_SEGMENT = 1024


def check_vision_attention(name: str) -> None:
    """Refuse an unknown or unavailable implementation before any model is built."""
    if name not in VISION_ATTENTION:
        raise ValueError(f"model.vision_attention={name!r} is not known; choose one of {', '.join(VISION_ATTENTION)}")
    if name == "varlen":
        if importlib.util.find_spec("torch.nn.attention.varlen") is None:
            raise ValueError(f"model.vision_attention=varlen needs torch.nn.attention.varlen, which torch {torch.__version__} "
                             "does not have; use model.vision_attention=windowed_batched")  # fmt: skip
        if not torch.cuda.is_available():
            raise ValueError("model.vision_attention=varlen runs on CUDA only and no GPU is visible; "
                             "use model.vision_attention=windowed_batched (runs on CPU too)")  # fmt: skip


class _Segments:
    """Where each window (or image) sits in the sequence, as gather indices into a padded batch.
    Computed once per forward (every block gets the same ``cu_seqlens`` tensor objects) instead of
    once per layer; the cache holds the tensor itself, so an id is never mistaken for another."""

    def __init__(self):
        self._cached: list[tuple[torch.Tensor, dict]] = []

    def of(self, cu_seqlens: torch.Tensor) -> dict:
        for tensor, found in self._cached:
            if tensor is cu_seqlens:
                return found
        bounds = cu_seqlens.tolist()
        lengths = [end - start for start, end in zip(bounds, bounds[1:], strict=False) if end > start]
        starts = [start for start, end in zip(bounds, bounds[1:], strict=False) if end > start]
        longest = max(lengths)
        offsets = torch.arange(longest)
        index = torch.tensor(starts)[:, None] + offsets[None, :]
        valid = offsets[None, :] < torch.tensor(lengths)[:, None]
        device = cu_seqlens.device
        found = {"index": torch.where(valid, index, 0).to(device), "valid": valid.to(device), "padded": min(lengths) < longest,
                 "longest": longest, "lengths": lengths, "cu_int32": cu_seqlens.to(torch.int32)}  # fmt: skip
        # a window layer and an image layer per forward; keep the last few forwards' (recompute)
        self._cached = [*self._cached[-3:], (cu_seqlens, found)]
        return found


def _qkv(module, hidden_states: torch.Tensor, position_embeddings) -> tuple[torch.Tensor, ...]:
    """Queries, keys, values ``[sequence, heads, head_dim]`` with the vision rotary embedding, as
    transformers computes them."""
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision

    length = hidden_states.shape[0]
    query, key, value = module.qkv(hidden_states).reshape(length, 3, module.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    query, key = apply_rotary_pos_emb_vision(query, key, cos, sin)
    return query, key, value


def _padded_attention(module, query, key, value, segments: dict) -> torch.Tensor:
    index, valid = segments["index"], segments["valid"]
    # [segments, longest, heads, dim] -> [segments, heads, longest, dim]
    q, k, v = (t[index].transpose(1, 2) for t in (query, key, value))
    mask = valid[:, None, None, :] if segments["padded"] else None
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=module.scaling)
    # the valid rows, in order, are the sequence again (segments are contiguous and consecutive)
    return out.transpose(1, 2)[valid]


def _one_by_one(module, query, key, value, lengths: list[int]) -> torch.Tensor:
    outs = []
    for q, k, v in zip(*(t.split(lengths) for t in (query, key, value)), strict=True):
        outs.append(F.scaled_dot_product_attention(*(x.transpose(0, 1)[None] for x in (q, k, v)), scale=module.scaling)[0].transpose(0, 1))
    return torch.cat(outs)


def windowed_batched_forward(module, segments: _Segments, hidden_states: torch.Tensor, cu_seqlens: torch.Tensor,
                             position_embeddings=None, max_seqlen=None, **kwargs) -> torch.Tensor:  # fmt: skip
    """``Qwen2_5_VLVisionAttention.forward`` with all segments in one padded attention call."""
    query, key, value = _qkv(module, hidden_states, position_embeddings)
    found = segments.of(cu_seqlens)
    if found["padded"] and found["longest"] > _LONGEST_MASKED_SEGMENT:
        out = _one_by_one(module, query, key, value, found["lengths"])
    else:
        out = _padded_attention(module, query, key, value, found)
    return module.proj(out.reshape(hidden_states.shape[0], -1))


def varlen_forward(module, segments: _Segments, hidden_states: torch.Tensor, cu_seqlens: torch.Tensor,
                   position_embeddings=None, max_seqlen=None, **kwargs) -> torch.Tensor:  # fmt: skip
    """``Qwen2_5_VLVisionAttention.forward`` through torch's variable-length flash kernel."""
    from torch.nn.attention.varlen import varlen_attn

    query, key, value = _qkv(module, hidden_states, position_embeddings)
    if query.dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"model.vision_attention=varlen needs bf16 or fp16 activations, got {query.dtype}: "
                         "train with trainer.precision=bf16-mixed or use model.vision_attention=windowed_batched")  # fmt: skip
    found = segments.of(cu_seqlens)
    cu = found["cu_int32"]
    # positional arguments: the keyword names changed between torch releases, these did not
    out = varlen_attn(query, key, value, cu, cu, found["longest"], found["longest"])
    return module.proj(out.reshape(hidden_states.shape[0], -1))


def _varlen_available() -> bool:
    return importlib.util.find_spec("torch.nn.attention.varlen") is not None


def auto_forward(module, segments: _Segments, hidden_states: torch.Tensor, cu_seqlens: torch.Tensor,
                 position_embeddings=None, max_seqlen=None, **kwargs) -> torch.Tensor:  # fmt: skip
    """``varlen`` where it runs (CUDA, half precision under autocast or in the weights), else ``windowed_batched``."""
    half = (torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") in (torch.bfloat16, torch.float16)) or (
        module.qkv.weight.dtype in (torch.bfloat16, torch.float16))  # fmt: skip
    forward = varlen_forward if hidden_states.is_cuda and half and _VARLEN else windowed_batched_forward
    return forward(module, segments, hidden_states, cu_seqlens, position_embeddings, max_seqlen, **kwargs)


_VARLEN = _varlen_available()


def use_vision_attention(model, name: str) -> None:
    """Install the named implementation on every block of ``model``'s vision tower."""
    check_vision_attention(name)
    blocks = model.model.visual.blocks
    for block in blocks:
        block.attn.__dict__.pop("forward", None)  # back to the class's (transformers') forward
    if name == "sdpa":
        return
    segments = _Segments()  # shared by the blocks: one index per forward
    forward = {"auto": auto_forward, "windowed_batched": windowed_batched_forward, "varlen": varlen_forward}[name]
    for block in blocks:
        block.attn.forward = partial(forward, block.attn, segments)
