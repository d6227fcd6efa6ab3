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


def add_settings_options(parser, what: str, example: str) -> None:
    """``--config FILE`` and ``--set KEY=VALUE ...`` for a tool whose settings are ``what``."""
    parser.add_argument("--config", default=None, help=f"YAML of {what} (the copy written beside a previous run works)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help=f"overrides, e.g. {example}")


def settings_from_options(parser, schema: type[T], args) -> T:
    """Load ``schema`` from ``--config``/``--set``; a wrong key or value exits with the parser's
    usage error naming it (status 2)."""
    try:
        return load_settings(schema, args.config, args.set)
    except ValueError as error:  # SettingsError, or a dataclass that rejected its values
        parser.error(str(error))
