"""A test double: Lightning's DeepSpeedStrategy on DeepSpeed's CPU accelerator (gloo), so ZeRO-2/3
runs of the real VLMModule, DataModule and callbacks can be checked without a GPU.

Lightning accepts DeepSpeed on CUDA only; ``CPUDeepSpeed`` lifts exactly those checks (the CUDA
accelerator check, the device-index check, the device rank DeepSpeed reads) and nothing else.

    DS_ACCELERATOR=cpu python tests/training/deepspeed_cpu.py STAGE SHARDS OUT [--init DIR]

STAGE 0 = plain single-process Lightning (the reference); 2 or 3 = ZeRO stage. Trains the tiny
preset in stage 2 for 2 optimizer steps of 2 micro-batches with gradient checkpointing, exports to
OUT/hf and writes OUT/result.json (gradient norms per optimizer step, losses).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DS_ACCELERATOR", "cpu")


def cpu_deepspeed(stage: int):
    import torch
    from lightning.fabric.utilities.seed import reset_seed
    from lightning.pytorch.strategies import DeepSpeedStrategy
    from lightning.pytorch.strategies.ddp import DDPStrategy

    class CPUDeepSpeed(DeepSpeedStrategy):
        def setup_environment(self):
            DDPStrategy.setup_environment(self)

        def setup_distributed(self):
            reset_seed()
            self.set_world_ranks()
            self._init_deepspeed_distributed()

        @property
        def root_device(self):
            return torch.device("cpu", 0)

        def _get_process_group_backend(self):
            return "gloo"

    return CPUDeepSpeed(stage=stage)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", type=int)
    parser.add_argument("shards")
    parser.add_argument("out", type=Path)
    parser.add_argument("--init", default=None)
    args = parser.parse_args()

    import lightning as L

    from callbacks import ExportHuggingFace, GradientNorm
    from cerebragloss.model import PixelRange
    from cerebragloss.runtime import use_local_caches
    from cerebragloss.streaming import ShardSource
    from datamodules import ShardDataModule
    from lit_modules import VLMModule

    use_local_caches()
    pixels = PixelRange(64 * 784, 128 * 784)
    data = ShardDataModule(root=args.shards, train=[ShardSource("rules/train")], batch_size=2, num_workers=0, pixels=pixels,
                           samples_per_epoch=16, max_length=2048)  # fmt: skip
    module = VLMModule(stage=2, preset="tiny", init_from=args.init, pixels=pixels, lr=1e-3, gradient_checkpointing=True)
    norms = GradientNorm()
    trainer = L.Trainer(accelerator="cpu", devices=1, strategy=cpu_deepspeed(args.stage) if args.stage else "auto", max_steps=2,
                        accumulate_grad_batches=2, gradient_clip_val=1.0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(args.out),
                        callbacks=[ExportHuggingFace(str(args.out / "hf")), norms])  # fmt: skip
    trainer.fit(module, datamodule=data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps({"grad_norms": norms.norms}))


if __name__ == "__main__":
    main()
