"""The ``cerebragloss`` command: LightningCLI over the stage modules and the shard DataModule.

    cerebragloss fit --config conf/stage1.yaml [--config conf/tiny.yaml] [--trainer.max_steps=...]
    cerebragloss test --config conf/test.yaml [--config conf/tiny.yaml]

``main(args)`` is what the console script and the tests call. Configs stack: full configs in
``conf/`` plus overlays that hold only what changes (``tiny.yaml``, ``ablations/``, ``deepspeed/``).
The data's pixel range is linked to the model's, so training and inference see the same pages.
``global_batch_size`` is the batch setting: gradient accumulation is derived from it, the
per-device batch and the number of devices (``accumulation_steps``), and a global batch that does
not divide is refused. Settings that cannot work on this machine (DeepSpeed without CUDA) are
refused before anything is built.
"""

from __future__ import annotations

from lightning.pytorch.cli import LightningCLI


def device_count(devices, accelerator: str | None) -> int:
    """How many devices Lightning will use for ``trainer.devices`` (an int, a list of indices, a
    string like "2", "0,1", "-1" or "auto") on this machine."""
    if isinstance(devices, (list, tuple)):
        return len(devices)
    text = str(devices).strip()
    if text not in ("auto", "-1") and "," in text:
        return len([d for d in text.split(",") if d.strip()])
    if text not in ("auto", "-1"):
        return int(text)
    import torch

    if str(accelerator) in ("gpu", "cuda", "auto", "None") and torch.cuda.is_available():
        return torch.cuda.device_count()
    return 1


def accumulation_steps(global_batch_size: int, batch_size: int, devices: int, nodes: int = 1) -> int:
    """Micro-batches per optimizer step so that ``batch_size x devices x nodes x steps`` equals the
    global batch; an error naming the settings when it does not divide."""
    per_step = batch_size * devices * nodes
    if global_batch_size < per_step or global_batch_size % per_step:
        fits = [per_step * k for k in (max(1, global_batch_size // per_step), max(1, global_batch_size // per_step) + 1)]
        raise ValueError(f"global_batch_size={global_batch_size} is not a multiple of data.batch_size ({batch_size}) x devices "
                         f"({devices}) x nodes ({nodes}) = {per_step}: set global_batch_size to e.g. {fits[0]} or {fits[1]}, "
                         f"or change data.batch_size / trainer.devices")  # fmt: skip
    return global_batch_size // per_step


class CerebraGlossCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        from callbacks.stop_at_fraction import StopAtFraction

        # Always present, so that a sweep or an ablation sets one plain key
        # (--stop_at_fraction.fraction=0.2) instead of editing the callbacks list; 1.0 = a full
        # epoch, which also gives the learning-rate schedule the epoch's exact step count.
        parser.add_lightning_class_args(StopAtFraction, "stop_at_fraction")
        parser.set_defaults({"stop_at_fraction.fraction": 1.0})
        # One setting for both sides: the processor of the model (export, generation) and of the
        # data (training batches) must resize pages alike.
        parser.link_arguments("data.init_args.pixels", "model.init_args.pixels", apply_on="instantiate")
        parser.add_argument("--global_batch_size", type=int | None, default=None,
                            help="samples per optimizer step over all devices; trainer.accumulate_grad_batches is derived "
                                 "from it (global / (data.batch_size x devices x nodes)); empty = use accumulate_grad_batches")  # fmt: skip

    def before_instantiate_classes(self) -> None:
        from cerebragloss.runtime import use_local_caches

        use_local_caches()
        config = self.config[self.subcommand] if self.subcommand else self.config
        self._derive_accumulation(config)
        if self.subcommand:  # a run, not only a parse (the config tests build DeepSpeed configs on CPU)
            self._check_runnable_here(config)

    @staticmethod
    def _derive_accumulation(config) -> None:
        if config.get("global_batch_size") is None:
            return
        trainer, data = config.trainer, config.data.init_args
        batch_size = data.get("batch_size")
        if batch_size is None:
            raise ValueError("global_batch_size needs data.init_args.batch_size (the per-device batch) to derive the accumulation")
        devices = device_count(trainer.devices, trainer.accelerator)
        steps = accumulation_steps(config.global_batch_size, int(batch_size), devices, int(trainer.num_nodes or 1))
        given = trainer.accumulate_grad_batches
        if given not in (None, 1, steps):
            raise ValueError(f"trainer.accumulate_grad_batches={given} contradicts global_batch_size={config.global_batch_size} "
                             f"(which gives {steps} on {devices} device(s) at data.batch_size={batch_size}): drop one of the two")  # fmt: skip
        trainer.accumulate_grad_batches = steps

    @staticmethod
    def _check_runnable_here(config) -> None:
        import torch

        strategy = config.trainer.get("strategy")
        class_path = strategy.get("class_path", "") if hasattr(strategy, "get") else str(strategy)
        if "deepspeed" in str(class_path).lower() and not torch.cuda.is_available():
            raise ValueError(f"trainer.strategy={class_path} needs CUDA GPUs and none is visible here: drop the "
                             "conf/deepspeed/*.yaml overlay (single device or trainer.strategy=ddp on CPU) or run on a GPU machine")  # fmt: skip


def build_cli(args: list[str] | None = None, run: bool = True) -> CerebraGlossCLI:
    """The CLI object (``run=False``: parse and instantiate only, as the config tests do)."""
    import lightning as L

    return CerebraGlossCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        seed_everything_default=0,
    )


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``cerebragloss`` console script."""
    build_cli(args)


if __name__ == "__main__":
    main()
