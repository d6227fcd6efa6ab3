"""A training run that can SIGKILL itself mid-epoch, for the resume drill (tests/training/test_resume.py).

    python tests/training/resume_drill.py SHARD_ROOT OUT [--kill-at BATCH] [--resume CKPT]

Trains stage 1 of the tiny preset for one epoch over full-pass sources with 2 DataLoader workers,
checkpoints every 2 optimizer steps (``OUT/ckpt/last.ckpt``) and appends the ids of every trained
batch to ``OUT/trained.jsonl`` (one line per batch, flushed and synced before the next step).
``--kill-at B`` sends SIGKILL to itself when batch B starts: no clean shutdown, no final save.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import lightning as L

from cerebragloss.model import PixelRange

PIXELS = PixelRange(min_pixels=32 * 784, max_pixels=64 * 784)


def data_module(shard_root: str, num_workers: int = 2):
    from cerebragloss.streaming import ShardSource
    from datamodules import ShardDataModule

    return ShardDataModule(root=shard_root, train=[ShardSource("rules/train", tasks=["caption", "mcq"]), ShardSource("general/llava")],
                           batch_size=2, num_workers=num_workers, pixels=PIXELS,
                           max_length=1024, shuffle_buffer=8, group_buffer_batches=2)  # fmt: skip


class RecordTrained(L.Callback):
    def __init__(self, path: Path, kill_at: int | None):
        self.path, self.kill_at = path, kill_at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.kill_at is not None and batch_idx == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        with self.path.open("a") as out:
            out.write(json.dumps({"batch": batch_idx, "step": trainer.global_step, "ids": batch["ids"]}) + "\n")
            out.flush()
            os.fsync(out.fileno())


def main() -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    from cerebragloss.runtime import use_local_caches
    from lit_modules import VLMModule

    parser = argparse.ArgumentParser()
    parser.add_argument("shard_root")
    parser.add_argument("out")
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    use_local_caches()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(0)
    checkpoint = ModelCheckpoint(dirpath=out / "ckpt", save_last=True, every_n_train_steps=2, save_top_k=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, default_root_dir=str(out),
                        callbacks=[checkpoint, RecordTrained(out / "trained.jsonl", args.kill_at)])  # fmt: skip
    trainer.fit(VLMModule(stage=1, preset="tiny", pixels=PIXELS), datamodule=data_module(args.shard_root), ckpt_path=args.resume)


if __name__ == "__main__":
    main()
