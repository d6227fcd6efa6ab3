"""The ``cerebragloss`` command: LightningCLI over the stage modules and the shard DataModule.

    cerebragloss fit --config conf/stage1.yaml [--config conf/tiny.yaml] [--trainer.max_steps=...]
    cerebragloss test --config conf/test.yaml [--config conf/tiny.yaml]

``main(args)`` is what the console script and the tests call. Configs stack: full configs in
``conf/`` plus overlays that hold only what changes (``tiny.yaml``, ``ablations/``, ``deepspeed/``).
The data's pixel range is linked to the model's, so training and inference see the same pages.
"""

from __future__ import annotations

from lightning.pytorch.cli import LightningCLI


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

    def before_instantiate_classes(self) -> None:
        from cerebragloss.runtime import use_local_caches

        use_local_caches()


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
