"""Every YAML in conf/ instantiates, with tiny.yaml on top, through the command its first line gives."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from cerebragloss.cli import build_cli

CONF = Path(__file__).resolve().parents[1] / "conf"
LIGHTNING_CONFIGS = sorted(p for p in CONF.rglob("*.yaml") if p.parent.name != "sweeps" and p.name != "tiny.yaml")


def _command(path: Path) -> list[str]:
    """The command of the file's first line: ``# cerebragloss fit --config A --config B``."""
    first = path.read_text().splitlines()[0]
    assert first.startswith("# cerebragloss "), f"{path}: the first line must be the command that runs it"
    return shlex.split(first.removeprefix("# "))


def _instantiate(path: Path, *extra: str):
    words = _command(path)
    assert words[1] in ("fit", "validate", "test", "predict") and str(path.relative_to(CONF.parent)) in words
    configs = [w for previous, w in zip(words, words[1:], strict=False) if previous == "--config"]
    args = [a for c in configs for a in ("--config", str(CONF.parent / c))] + ["--config", str(CONF / "tiny.yaml"), *extra]
    return build_cli(args, run=False)


def _callback(cli, name: str):
    return next(c for c in cli.trainer.callbacks if type(c).__name__ == name)


@pytest.mark.parametrize("path", LIGHTNING_CONFIGS, ids=lambda p: str(p.relative_to(CONF)))
def test_every_config_instantiates_with_the_tiny_overlay(path):
    from datamodules import ClinicalDataModule, ShardDataModule
    from lit_modules import VLMModule

    cli = _instantiate(path)
    assert isinstance(cli.model, VLMModule) and isinstance(cli.datamodule, (ShardDataModule, ClinicalDataModule))
    assert cli.model.hparams.preset == "tiny" and cli.model.hparams.pretrained is None
    assert cli.trainer.precision == "32-true" and cli.datamodule.root == "demo_output/shards"
    # the data's pixel range reaches the model (linked), so both resize pages alike
    assert cli.model.hparams.pixels == cli.datamodule.pixels


def test_the_paper_settings_of_the_two_stages():
    stage1 = yaml.safe_load((CONF / "stage1.yaml").read_text())
    stage2 = yaml.safe_load((CONF / "stage2.yaml").read_text())
    assert stage1["stop_at_fraction"]["fraction"] == 0.05 and stage1["model"]["init_args"]["stage"] == 1
    assert {"stage": 2, "lr": 1.0e-5, "init_from": "outputs/stage1/hf"}.items() <= stage2["model"]["init_args"].items()
    assert stage2["trainer"]["max_epochs"] == 1 and stage2["stop_at_fraction"]["fraction"] == 1.0
    for stage in (stage1, stage2):  # the paper's batch 256: accumulation is derived from it (cerebragloss.cli)
        assert stage["global_batch_size"] == 256 and "accumulate_grad_batches" not in stage["trainer"]
    mix = {(s["path"], tuple(s.get("tasks") or ())): s["samples"] for s in stage2["data"]["init_args"]["train"]}
    assert mix == {("teacher/train", ()): 94000, ("rules/train", ("mcq",)): 100000, ("rules/train", ("caption",)): 50000,
                   ("general/llava", ()): 50000}  # fmt: skip
    assert sum(s["samples"] for s in stage1["data"]["init_args"]["train"]) == 1_400_000 + 558_000


def test_each_ablation_changes_what_its_row_of_the_table_says():
    fraction = _instantiate(CONF / "ablations" / "stage1_fraction_0.20.yaml")
    assert _callback(fraction, "StopAtFraction").fraction == 0.20
    no_llm = _instantiate(CONF / "ablations" / "stage2_no_llm_data.yaml")
    assert [s.path.split("shards/")[1] for s in no_llm.datamodule.sources["train"]] == ["rules/train", "rules/train", "general/llava"]
    no_captions = _instantiate(CONF / "ablations" / "stage2_no_rule_captions.yaml")
    assert all("caption" not in (s.tasks or []) for s in no_captions.datamodule.sources["train"])
    assert len(no_captions.datamodule.sources["train"]) == 3
    no_stage2 = _instantiate(CONF / "ablations" / "no_stage2.yaml")
    assert no_stage2.model.hparams.init_from == "outputs/stage1/hf"
    runs = {fraction.trainer.default_root_dir, no_llm.trainer.default_root_dir, no_captions.trainer.default_root_dir,
            no_stage2.trainer.default_root_dir}  # fmt: skip
    assert len(runs) == 4  # ablations never overwrite each other's outputs


def test_deepspeed_overlays_build_the_strategy():
    from lightning.pytorch.strategies import DeepSpeedStrategy

    for stage in (2, 3):
        cli = _instantiate(CONF / "deepspeed" / f"zero{stage}.yaml")
        assert isinstance(cli.trainer.strategy, DeepSpeedStrategy)
        assert cli.trainer.strategy.config["zero_optimization"]["stage"] == stage


def test_the_sweep_passes_lightningcli_overrides_that_the_cli_accepts():
    sweep = yaml.safe_load((CONF / "sweeps" / "stage1_fraction.yaml").read_text())
    assert sweep["command"][-1] == "${args}" and sweep["command"][1:5] == ["cerebragloss", "fit", "--config", "conf/stage1.yaml"]
    values = sweep["parameters"]["stop_at_fraction.fraction"]["values"]
    assert len(values) >= 3 and 0.05 in values
    for value in values:  # W&B renders ${args} as --name=value
        cli = _instantiate(CONF / "stage1.yaml", f"--stop_at_fraction.fraction={value}")
        assert _callback(cli, "StopAtFraction").fraction == value
    # the sync switch reaches W&B's logger (the full config, without the CPU overlay's CSV logger)
    cli = build_cli(["--config", str(CONF / "stage1.yaml"), "--trainer.logger.init_args.offline=false"], run=False)
    assert type(cli.trainer.logger).__name__ == "WandbLogger" and cli.trainer.logger._offline is False
    assert build_cli(["--config", str(CONF / "stage1.yaml")], run=False).trainer.logger._offline is True  # offline by default
