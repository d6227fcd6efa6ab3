"""Training speed: one step of each stage timed on a GPU, the code before the speed work beside it.

``tools/bench_gpu.py`` is the command. Batches are built with the processor from a rendered
simulated page (no shards, no webdataset), so the numbers depend on the model code only: a full
1344 x 756 page = 1296 visual tokens, an answer of 40-160 words, batch 4. Each configuration is
timed as a plain PyTorch loop doing what Lightning's ``bf16-mixed`` does (forward under bf16
autocast, backward, clipping, fused AdamW): ``VLMModule`` calls the same library functions
(``prepare_for_training``, ``training_loss``).

MFU = model FLOPs / (step time x 989 TFLOP/s, the H100's dense bf16 peak), model FLOPs per step =
``k x LLM parameters x tokens + 2 x vision parameters x patches`` with k = 6 in stage 2 (forward,
activation and weight gradients of the trained LLM) and 4 in stage 1 (the frozen LLM still
backpropagates activations to the projector); tokens exclude padding. Rates (tokens/s, samples/s,
MFU) are medians of per-step rates; the mean step time is shown beside the median.
"""

from __future__ import annotations

import gc
import io
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from cerebragloss.training import SpeedSettings

H100_BF16_DENSE_FLOPS = 989e12

#: What the code did before issue 13, as settings: transformers' per-window attention, the input
#: grad hook left on the vision tower, frozen parts in fp32, logits for every position.
BEFORE = SpeedSettings(vision_attention="sdpa", loss_positions="all", frozen_dtype="fp32", vision_input_grads=True)


@dataclass
class Measured:
    name: str
    stage: int
    median_step_s: float
    mean_step_s: float
    tokens_per_s: float
    samples_per_s: float
    mfu: float
    peak_memory_gib: float
    padding: float
    attention_forward: int
    attention_backward: int
    autograd_nodes: int
    vision_outputs_requiring_grad: int


def page_png(seed: int = 0) -> bytes:
    """A rendered 10 s double-banana page (alpha-like rhythm plus noise; drawn without the
    simulator, whose electrode geometry needs mne, which GPU images lack) as PNG bytes."""
    from cerebragloss.render import render_segment
    from cerebragloss.signals.montage import LONGITUDINAL_BIPOLAR
    from cerebragloss.signals.segments import Segment

    rng = np.random.default_rng(seed)
    sfreq, seconds = 200.0, 10.0
    t = np.arange(int(sfreq * seconds)) / sfreq
    channels = [f"{a}-{b}" for a, b in LONGITUDINAL_BIPOLAR]
    data = np.stack([30 * np.sin(2 * np.pi * (9.5 + 0.1 * row) * t + rng.uniform(0, 6.3)) + 8 * rng.standard_normal(t.size)
                     for row in range(len(channels))]).astype(np.float32)  # fmt: skip
    segment = Segment(data=data, sfreq=sfreq, channels=channels, montage="longitudinal_bipolar", recording="bench", subject="bench",
                      start_s=0.0)  # fmt: skip
    buffer = io.BytesIO()
    render_segment(segment).image.save(buffer, format="PNG")
    return buffer.getvalue()


_WORDS = ("the background shows a posterior dominant rhythm of ten hertz with symmetric amplitude over both hemispheres and "
          "no epileptiform discharges; a sharp wave appears at F7 with phase reversal while muscle artifact covers the "
          "temporal chains during the last seconds").split()  # fmt: skip


def synthetic_samples(count: int, seed: int = 0, words: tuple[int, int] = (40, 160)) -> list[dict]:
    """Samples in the shard format (DESIGN.md) with answers of ``words`` words."""
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        length = int(rng.integers(*words))
        answer = " ".join(_WORDS[(index + i) % len(_WORDS)] for i in range(length))
        samples.append({"id": f"bench-{index:05d}", "task": "description", "source": "offline", "subject": f"s{index % 4}",
                        "recording": "bench", "messages": [{"role": "user", "content": "<image>\nDescribe this EEG page."},
                                                           {"role": "assistant", "content": answer}]})  # fmt: skip
    return samples


def synthetic_batches(processor, batch_size: int, count: int, seed: int = 0, words: tuple[int, int] = (40, 160)) -> list[dict]:
    """``count`` collated batches of a rendered page with answers of ``words`` words (one length
    = no padding)."""
    from cerebragloss.batching import collate, encode_sample, load_image

    image = load_image(page_png(seed))
    pad_id = processor.tokenizer.pad_token_id
    samples = synthetic_samples(batch_size * count, seed, words)
    items = [encode_sample(sample, image, processor, max_length=8192) for sample in samples]
    batches = [collate(items[i : i + batch_size], pad_id) for i in range(0, len(items), batch_size)]
    return [{k: v for k, v in batch.items() if isinstance(v, torch.Tensor)} for batch in batches]


def build_for_training(preset: str, stage: int, speed: SpeedSettings, device: str, autocast: torch.dtype | None,
                       gradient_checkpointing: bool = True):  # fmt: skip
    """The model as ``VLMModule.configure_model`` builds it, directly on ``device``."""
    from cerebragloss.model import freeze_for_stage, load_model
    from cerebragloss.training import prepare_for_training

    with torch.device(device):
        model = load_model(preset=preset)
    model.train()
    freeze_for_stage(model, stage)
    prepare_for_training(model, stage, speed, gradient_checkpointing, autocast)
    return model


def step_flops(model, stage: int, batch: dict) -> float:
    from cerebragloss.training import parameter_counts

    counts = parameter_counts(model)
    tokens = int(batch["attention_mask"].sum())
    patches = int(batch["pixel_values"].shape[0])
    return (6 if stage == 2 else 4) * counts["language_model"] * tokens + 2 * counts["vision_encoder"] * patches


def measure(name: str, preset: str, stage: int, speed: SpeedSettings, batches: list[dict], steps: int, warmup: int,
            device: str = "cuda", optimizer_kind: str = "fused", gradient_checkpointing: bool = True,
            profile: bool = False) -> Measured:  # fmt: skip
    """Time ``steps`` optimizer steps after ``warmup`` ones; count one more step's attention calls
    and autograd nodes. ``optimizer_kind``: AdamW ``fused`` (one kernel) or ``foreach``."""
    from cerebragloss.training import count_step

    cuda = device.startswith("cuda")
    autocast = torch.bfloat16 if cuda else None
    model = build_for_training(preset, stage, speed, device, autocast, gradient_checkpointing)
    trainable = [p for p in model.parameters() if p.requires_grad]
    fused = cuda and optimizer_kind == "fused"
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=fused or None, foreach=None if fused else True)
    on_device = [{k: v.to(device, non_blocking=True) for k, v in batch.items()} for batch in batches]

    # every batch shape once before timing: the first step of a new length pays kernel selection
    warmup = max(warmup, len(on_device))
    times, tokens, samples, flops, padding = [], [], [], [], []
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for index in range(warmup + steps):
        batch = on_device[index % len(on_device)]
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        _optimizer_step(model, batch, speed, trainable, optimizer, cuda)
        if cuda:
            torch.cuda.synchronize()
        if index >= warmup:
            times.append(time.perf_counter() - start)
            tokens.append(int(batch["attention_mask"].sum()))
            samples.append(int(batch["input_ids"].shape[0]))
            flops.append(step_flops(model, stage, batch))
            padding.append(1.0 - tokens[-1] / batch["attention_mask"].numel())
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    if profile:
        print(profile_step(model, on_device[0], speed, optimizer, trainable, cuda), flush=True)
    with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
        counts = count_step(model, on_device[0], speed)
    optimizer.zero_grad(set_to_none=True)
    # rates per step, then the median: one slow step (a recompile, an allocator stall) moves the
    # mean column, not the rates
    rate = lambda values: statistics.median(v / t for v, t in zip(values, times, strict=True))  # noqa: E731
    result = Measured(name=name, stage=stage, median_step_s=statistics.median(times), mean_step_s=statistics.mean(times),
                      tokens_per_s=rate(tokens), samples_per_s=rate(samples), mfu=rate(flops) / H100_BF16_DENSE_FLOPS,
                      peak_memory_gib=peak, padding=statistics.mean(padding), **counts)  # fmt: skip
    # free this configuration before the next is built (not moved back to the CPU: that takes minutes)
    del model, optimizer, trainable, on_device
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result


#: Small pages for the CPU proxy (64-128 visual tokens): the counts per layer do not depend on the
#: page size except the per-window calls, which grow with it (84 windows per full page).
PROXY_PIXELS = (64 * 28 * 28, 128 * 28 * 28)


def cpu_proxy(batch_size: int = 2) -> list[Measured]:
    """One step of each stage of the tiny preset on the CPU, before and after: attention calls,
    autograd nodes, vision outputs that required grad (gradient checkpointing on)."""
    from cerebragloss.model import PixelRange, build_processor

    processor = build_processor(PixelRange(*PROXY_PIXELS))
    batches = synthetic_batches(processor, batch_size, count=1)
    rows = []
    for stage in (1, 2):
        for name, speed in (("before", BEFORE), ("after", SpeedSettings())):
            torch.manual_seed(0)
            rows.append(measure(f"tiny stage {stage} {name}", "tiny", stage, speed, batches, steps=1, warmup=0, device="cpu"))
    return rows


def profile_step(model, batch: dict, speed: SpeedSettings, optimizer, trainable, cuda: bool) -> str:
    """One training step under torch.profiler: wall time, GPU kernel time and launches, and the
    ops with the most GPU (or CPU) time: where a step's time goes."""
    from torch.profiler import ProfilerActivity, profile


    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    start = time.perf_counter()
    with profile(activities=activities) as profiler:
        _optimizer_step(model, batch, speed, trainable, optimizer, cuda)
        if cuda:
            torch.cuda.synchronize()
    wall = time.perf_counter() - start
    kernels = [e for e in profiler.events() if getattr(e, "device_type", None) is not None and "CUDA" in str(e.device_type)]
    busy = sum(getattr(e, "device_time", None) or getattr(e, "cuda_time", 0) for e in kernels) / 1e6
    averages = profiler.key_averages()
    for key in ("self_device_time_total", "self_cuda_time_total", "self_cpu_time_total"):
        try:
            ops = averages.table(sort_by=key if cuda or key == "self_cpu_time_total" else "self_cpu_time_total", row_limit=18)
            break
        except (AttributeError, KeyError, ValueError):
            continue
    return f"profiled step: {wall:.3f} s wall (profiler on), GPU kernels {busy:.3f} s in {len(kernels)} launches\n{ops}"


def table(rows: list[Measured]) -> str:
    head = ("| configuration | median step | mean step | tokens/s | samples/s | MFU | peak memory | padding | attention calls fwd/bwd "
            "| autograd nodes | vision outputs requiring grad |")  # fmt: skip
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r.name} | {r.median_step_s:.3f} s | {r.mean_step_s:.3f} s | {r.tokens_per_s:,.0f} | {r.samples_per_s:.2f} | "
                     f"{100 * r.mfu:.1f} % | "
                     f"{r.peak_memory_gib:.1f} GiB | {100 * r.padding:.1f} % | {r.attention_forward:,} / {r.attention_backward:,} | "
                     f"{r.autograd_nodes:,} | {r.vision_outputs_requiring_grad} |")  # fmt: skip
    return "\n".join(lines)


def ratios(rows: list[Measured]) -> str:
    """Every row against its stage's ``before`` row and ``after`` row, in samples per second
    (rows may differ in batch size)."""
    lines = []
    for stage in (1, 2):
        for base_name in ("before", "after"):
            base = next((r for r in rows if r.name == f"stage {stage} {base_name}"), None)
            for row in rows:
                if base is not None and row.stage == stage and row is not base and not row.name.endswith("before"):
                    lines.append(f"{row.name}: {row.samples_per_s / base.samples_per_s:.2f}x the samples/s of {base.name} "
                                 f"({base.samples_per_s:.2f} -> {row.samples_per_s:.2f}; MFU {100 * base.mfu:.1f} % -> "
                                 f"{100 * row.mfu:.1f} %)")  # fmt: skip
    return "\n".join(lines)


def as_dicts(rows: list[Measured]) -> list[dict]:
    return [asdict(r) for r in rows]


def write_smoke_shards(root, samples: int = 32, seed: int = 0) -> None:
    """Shard sets in the layout ``conf/stage1.yaml`` and ``conf/stage2.yaml`` read (``rules/<split>``
    with captions and MCQs, ``teacher/<split>``, ``general/llava``), every sample on a rendered
    full-size page: for smoke runs of the real configs where the demo data is not at hand."""
    from pathlib import Path

    from cerebragloss.shards import ShardSetWriter

    root = Path(root)
    png = page_png(seed)
    layout = {"rules": ("caption", "mcq"), "teacher": ("description",), "general": ("general",)}
    for name, tasks in layout.items():
        for split in ("llava",) if name == "general" else ("train", "val"):
            with ShardSetWriter(root / name / split, name=name, samples_per_shard=max(1, samples // 4)) as writer:
                for index, sample in enumerate(synthetic_samples(samples, seed)):
                    task = tasks[index % len(tasks)]
                    writer.write(sample | {"id": f"{name}-{split}-{index:05d}", "task": task,
                                           "source": {"rules": "rule", "teacher": "offline", "general": "general"}[name]}, png)  # fmt: skip


def _optimizer_step(model, batch, speed, trainable, optimizer, cuda: bool) -> None:
    """One training step as the benchmark times and profiles it: bf16 autocast on CUDA, clip at 1.0."""
    from cerebragloss.training import training_loss

    with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
        loss = training_loss(model, batch, speed)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
