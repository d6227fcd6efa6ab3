"""Keep every cache inside the project and never touch the network at run time.

Call :func:`use_local_caches` before importing transformers, ultralytics, matplotlib or wandb
(tools, the CLI and the tests do). Values already in the environment win, so a user can point a
cache elsewhere or switch W&B online.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path


def project_root() -> Path:
    """``$CEREBRAGLOSS_HOME``, else the checkout this package lives in, else the working directory."""
    if os.environ.get("CEREBRAGLOSS_HOME"):
        return Path(os.environ["CEREBRAGLOSS_HOME"])
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists() and (checkout / "cerebragloss").is_dir():
        return checkout
    return Path.cwd()


def use_local_caches(root: str | Path | None = None) -> Path:
    """Point HF, ultralytics, matplotlib, torch, triton and W&B caches at ``<root>/.cache``.

    Returns the cache folder.
    """
    cache = Path(root or project_root()) / ".cache"
    settings = {
        "HF_HOME": cache / "huggingface",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "YOLO_CONFIG_DIR": cache / "ultralytics",
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "False",
        "MPLCONFIGDIR": cache / "matplotlib",
        "TORCH_HOME": cache / "torch",
        "TORCH_EXTENSIONS_DIR": cache / "torch_extensions",
        "TRITON_CACHE_DIR": cache / "triton",
        "WANDB_DIR": cache / "wandb",
        "WANDB_CACHE_DIR": cache / "wandb" / "cache",
        "WANDB_CONFIG_DIR": cache / "wandb" / "config",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }
    for name, value in settings.items():
        os.environ.setdefault(name, str(value))
    for name in ("HF_HOME", "YOLO_CONFIG_DIR", "MPLCONFIGDIR", "WANDB_DIR"):
        Path(os.environ[name]).mkdir(parents=True, exist_ok=True)
    _provide_ultralytics_fonts(Path(os.environ["YOLO_CONFIG_DIR"]))
    return cache


def _provide_ultralytics_fonts(config_dir: Path) -> None:
    # ultralytics downloads Arial.ttf for plot labels unless one is in its config folder; give it
    # matplotlib's bundled DejaVu Sans under that name instead.
    if (config_dir / "Arial.ttf").exists() and (config_dir / "Arial.Unicode.ttf").exists():
        return
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return
    font = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    if font.exists():
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            if not (config_dir / name).exists():
                shutil.copyfile(font, config_dir / name)
