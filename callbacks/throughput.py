"""Tokens per second (and MFU on GPU) with Lightning's ThroughputMonitor."""

from __future__ import annotations

from lightning.pytorch.callbacks import ThroughputMonitor


def _samples(batch) -> int:
    return int(batch["input_ids"].shape[0])


def _tokens(batch) -> int:
    return int(batch["attention_mask"].sum())


class TokenThroughput(ThroughputMonitor):
    """ThroughputMonitor with this project's batch layout: samples = rows of ``input_ids``,
    length = non-padding tokens (so padding does not inflate tokens/s). FLOPs come from the
    module's ``flops_per_batch``; MFU is logged where Lightning knows the device's peak (GPUs).
    Logged as ``train/device/items_per_sec`` (Lightning calls the length unit "items": here
    tokens), ``train/device/samples_per_sec``, ``train/device/flops_per_sec``, ``train/device/mfu``.
    Exists because the monitor's functions cannot be written in YAML."""

    def __init__(self, window_size: int = 20):
        super().__init__(batch_size_fn=_samples, length_fn=_tokens, window_size=window_size)
