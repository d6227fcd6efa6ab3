"""Tool settings: dataclasses with defaults in the library, overridden from YAML and ``key=value``
lists through omegaconf structured configs, so a mistyped key is an error that names it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cerebragloss.render import RenderSettings
from cerebragloss.signals.filters import FilterSettings
from cerebragloss.signals.segments import FlagSettings

T = TypeVar("T")


@dataclass
class PageSettings:
    """Everything that decides how a recording becomes pages (``tools/render.py``)."""

    filters: FilterSettings = field(default_factory=FilterSettings)
    flags: FlagSettings = field(default_factory=FlagSettings)
    render: RenderSettings = field(default_factory=RenderSettings)


class SettingsError(ValueError):
    """A settings file or override is wrong; the message names the key."""


def load_settings(schema: type[T], config: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Defaults of ``schema``, then the YAML file ``config``, then ``overrides`` (``a.b=value``)."""
    try:
        merged = OmegaConf.structured(schema)
        if config is not None:
            merged = OmegaConf.merge(merged, OmegaConf.load(config))
        if overrides:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        source = f" in {config}" if config else ""
        raise SettingsError(f"settings{source}: {error}".splitlines()[0]) from None


def write_settings(settings, path: str | Path) -> Path:
    """Write the settings used next to an output, as YAML that :func:`load_settings` reads back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(OmegaConf.structured(settings)))
    return path
