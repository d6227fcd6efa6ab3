"""Many devices without GPUs: the global batch setting, settings refused before anything is built,
the loss scaling under DeepSpeed, ZeRO-2/3 runs through DeepSpeed's CPU accelerator, and the
training path importing without the data-engine packages GPU images lack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cerebragloss.cli import accumulation_steps, build_cli, main
from cerebragloss.training import gradient_accumulation_correction

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def _configs(*names: str) -> list[str]:
    return [a for name in names for a in ("--config", str(CONF / name))]


def test_accumulation_is_derived_from_the_global_batch():
    assert accumulation_steps(256, 4, 8) == 8 and accumulation_steps(256, 4, 1) == 64 and accumulation_steps(256, 4, 4, nodes=2) == 8
    with pytest.raises(ValueError, match=r"global_batch_size=256 is not a multiple of data.batch_size \(4\) x devices \(3\)"):
        accumulation_steps(256, 4, 3)
    cli = build_cli([*_configs("stage2.yaml", "tiny.yaml"), "--global_batch_size=8"], run=False)
    assert cli.trainer.accumulate_grad_batches == 4  # 8 / (batch 2 x 1 CPU device)
    assert build_cli(_configs("stage2.yaml", "tiny.yaml"), run=False).trainer.accumulate_grad_batches == 1


def test_a_global_batch_that_does_not_divide_or_contradicts_is_refused():
    with pytest.raises(ValueError, match=r"global_batch_size=3 is not a multiple of data.batch_size \(2\) x devices \(1\) x nodes \(1\) = 2"):
        build_cli([*_configs("stage2.yaml", "tiny.yaml"), "--global_batch_size=3"], run=False)
    with pytest.raises(ValueError, match="trainer.accumulate_grad_batches=3 contradicts global_batch_size=8"):
        build_cli([*_configs("stage2.yaml", "tiny.yaml"), "--global_batch_size=8", "--trainer.accumulate_grad_batches=3"], run=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_deepspeed_without_cuda_is_refused_before_any_model_is_built(monkeypatch):
    import lit_modules

    built = []
    monkeypatch.setattr(lit_modules.VLMModule, "configure_model", lambda self: built.append(self))
    with pytest.raises(ValueError, match="trainer.strategy=lightning.pytorch.strategies.DeepSpeedStrategy needs CUDA GPUs"):
        main(["fit", *_configs("stage2.yaml", "deepspeed/zero2.yaml", "tiny.yaml")])
    assert not built


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_an_attention_implementation_that_cannot_run_here_is_refused_at_instantiation():
    with pytest.raises(Exception, match="model.vision_attention=varlen runs on CUDA only"):
        build_cli([*_configs("stage2.yaml", "tiny.yaml"), "--model.init_args.vision_attention=varlen"], run=False)


def test_the_loss_is_scaled_once_by_the_accumulation_under_deepspeed():
    # Lightning divides a step's loss by the accumulation, DeepSpeed's engine again; the module
    # multiplies back once where the strategy divides, so gradients equal plain accumulation.
    torch.manual_seed(0)
    weight = torch.randn(3, requires_grad=True)
    batches = [torch.randn(4, 3) for _ in range(4)]

    def accumulated_grad(strategy_divides: bool) -> torch.Tensor:
        weight.grad = None
        for x in batches:
            loss = (x @ weight).square().mean() * gradient_accumulation_correction(strategy_divides, len(batches))
            loss = loss / len(batches)  # Lightning's normalisation
            if strategy_divides:
                loss = loss / len(batches)  # DeepSpeedEngine.backward (scale_wrt_gas)
            loss.backward()
        return weight.grad.clone()

    expected = torch.autograd.grad(torch.stack([(x @ weight).square().mean() for x in batches]).mean(), weight)[0]
    torch.testing.assert_close(accumulated_grad(False), expected)
    torch.testing.assert_close(accumulated_grad(True), expected)
    assert gradient_accumulation_correction(True, 8) == 8 and gradient_accumulation_correction(False, 8) == 1


@pytest.fixture(scope="module")
def deepspeed_inputs(tmp_path_factory) -> Path:
    """Shards of full-size pages and an initial tiny checkpoint (both runs start from the same weights)."""
    from cerebragloss.model import build_processor, load_model
    from cerebragloss.speed_bench import write_smoke_shards

    root = tmp_path_factory.mktemp("deepspeed")
    write_smoke_shards(root / "shards", samples=8)
    load_model(preset="tiny").save_pretrained(root / "init")
    build_processor().save_pretrained(root / "init")
    return root


def _run_cpu_deepspeed(stage: int, root: Path) -> dict:
    env = os.environ | {"DS_ACCELERATOR": "cpu", "MASTER_PORT": str(29600 + stage)}
    out = root / f"stage{stage}"
    subprocess.run([sys.executable, str(ROOT / "tests" / "training" / "deepspeed_cpu.py"), str(stage), str(root / "shards"), str(out),
                    "--init", str(root / "init")], check=True, env=env, cwd=ROOT, timeout=600)  # fmt: skip
    return json.loads((out / "result.json").read_text()) | {"export": out / "hf"}


def _compare_with_single_process(stage: int, root: Path) -> None:
    from transformers import Qwen2_5_VLForConditionalGeneration

    reference, zero = _run_cpu_deepspeed(0, root), _run_cpu_deepspeed(stage, root)
    # two optimizer steps of 2 micro-batches: the same gradient norms (DeepSpeed's second division
    # by the accumulation would halve them) and the same weights after
    assert len(zero["grad_norms"]) == len(reference["grad_norms"]) == 2
    torch.testing.assert_close(torch.tensor(zero["grad_norms"]), torch.tensor(reference["grad_norms"]), rtol=1e-3, atol=0)
    exported = Qwen2_5_VLForConditionalGeneration.from_pretrained(zero["export"]).state_dict()
    expected = Qwen2_5_VLForConditionalGeneration.from_pretrained(reference["export"]).state_dict()
    assert exported.keys() == expected.keys() and all(t.numel() > 0 for t in exported.values())
    for name, tensor in expected.items():
        torch.testing.assert_close(exported[name], tensor, rtol=1e-4, atol=1e-5)


def test_zero3_loads_a_checkpoint_into_shards_trains_like_one_process_and_exports_whole_weights(deepspeed_inputs):
    _compare_with_single_process(3, deepspeed_inputs)


@pytest.mark.slow
def test_zero2_trains_like_one_process(deepspeed_inputs):
    _compare_with_single_process(2, deepspeed_inputs)


def test_the_training_path_imports_and_builds_without_the_data_engine_packages(tmp_path):
    # GPU images lack mne, ultralytics, wandb, google-genai (and yasa, edfio, pycocotools)
    script = """
import sys
for name in ("mne", "ultralytics", "wandb", "google", "google.genai", "yasa", "edfio", "pycocotools"):
    sys.modules[name] = None  # as if not installed
from cerebragloss.cli import build_cli
from cerebragloss.speed_bench import page_png, write_smoke_shards
import callbacks, datamodules, lit_modules, cerebragloss.training
page_png()
for overlay in ([], ["--config", "conf/deepspeed/zero3.yaml"]):
    build_cli(["--config", "conf/stage2.yaml", *overlay, "--config", "conf/tiny.yaml"], run=False)
write_smoke_shards(sys.argv[1], samples=2)
print("imported")
"""
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "shards")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "imported" in result.stdout, result.stderr[-3000:]


def test_ddp_with_gloo_on_two_cpu_processes_derives_accumulation_trains_and_exports_once(tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from cerebragloss.speed_bench import write_smoke_shards

    write_smoke_shards(tmp_path / "shards", samples=16)
    overlay = tmp_path / "ddp.yaml"
    overlay.write_text(f"""\
global_batch_size: 8  # 2 per device x 2 processes x 2 micro-batches
trainer:
  devices: 2
  strategy: ddp
  max_steps: 2
  limit_val_batches: 0
  num_sanity_val_steps: 0
  enable_checkpointing: false
  enable_progress_bar: false
  default_root_dir: {tmp_path / "run"}
  callbacks:
    - class_path: callbacks.ExportHuggingFace
    - class_path: callbacks.GradientNorm
model:
  init_args:
    init_from: null
data:
  init_args:
    root: {tmp_path / "shards"}
    num_workers: 1
    samples_per_epoch: 32
""")
    command = [sys.executable, "-m", "cerebragloss.cli", "fit", *_configs("stage2.yaml", "tiny.yaml"), "--config", str(overlay)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=os.environ | {"MASTER_PORT": "29655"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Starting with 2 processes" in output and "distributed_backend=gloo" in output
    # one optimizer step per accumulated 2 micro-batches on each rank, logged once (rank 0)
    assert output.count("GradientNorm: optimizer step") == 2
    (config,) = (tmp_path / "run").rglob("config.yaml")
    assert "accumulate_grad_batches: 2" in config.read_text()
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "run" / "hf")
    assert sum(p.numel() for p in model.parameters()) > 9_000_000
