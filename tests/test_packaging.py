import importlib
from importlib import metadata

import pytest


@pytest.mark.parametrize("package", ["cerebragloss", "datamodules", "lit_modules", "callbacks"])
def test_the_four_packages_are_installed_from_this_checkout(package):
    module = importlib.import_module(package)
    assert module.__file__ is not None


def test_every_design_card_dependency_is_declared():
    declared = {requirement.split(">")[0].split("<")[0].split("[")[0].split("=")[0].strip().lower()
                for requirement in metadata.requires("cerebragloss") or []}  # fmt: skip
    card = {"lightning", "torch", "torchvision", "transformers", "deepspeed", "torchmetrics", "ultralytics",
            "mne", "scipy", "webdataset", "google-genai", "wandb", "omegaconf"}  # fmt: skip
    assert card <= declared, card - declared


def test_caches_are_inside_the_project(tmp_path, monkeypatch):
    import os

    from cerebragloss.runtime import use_local_caches

    for name in ("HF_HOME", "YOLO_CONFIG_DIR", "MPLCONFIGDIR", "TORCH_EXTENSIONS_DIR", "WANDB_MODE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    cache = use_local_caches(tmp_path)
    assert cache == tmp_path / ".cache"
    for name in ("HF_HOME", "YOLO_CONFIG_DIR", "MPLCONFIGDIR", "TORCH_EXTENSIONS_DIR"):
        assert os.environ[name].startswith(str(cache))
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["WANDB_MODE"] == "offline"
    assert (cache / "ultralytics" / "Arial.ttf").stat().st_size > 100_000  # no font download
