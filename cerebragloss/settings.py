"""Tool settings: dataclasses with defaults in the library, overridden from YAML and ``key=value``
lists through omegaconf structured configs, so a mistyped key is an error that names it."""

from __future__ import annotations

import json
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


# ---------------------------------------------------------------------------------------------
# The page a model is trained on, carried with the data: annotation run -> shard manifests ->
# model export -> interpretation and clinical tasks. Recorded once where it is decided.

#: beside an exported model: the page its training data was drawn as
PAGE_FILE = "cerebragloss_page.json"
#: what makes two pages "the same page" for a model (flag thresholds do not change the image)
PAGE_KEYS = ("montage", "filters", "render")


class PageMismatchError(ValueError):
    """Two steps would use different pages (montage, filters or render geometry)."""


def page_record(montage: str, page: PageSettings) -> dict:
    """The page as plain JSON: montage, filters, flag thresholds and render geometry."""
    from dataclasses import asdict

    return {"montage": montage, **asdict(page)}


def annotation_page(annotations_dir: str | Path) -> dict | None:
    """The page an annotation run drew (its ``annotate_settings.yaml``), or None without one."""
    path = Path(annotations_dir) / "annotate_settings.yaml"
    if not path.exists():
        return None
    written = OmegaConf.to_container(OmegaConf.load(path))
    return page_record(written.get("montage", "longitudinal_bipolar"), load_settings(PageSettings, overrides=_dotlist(written.get("page", {}))))


def _dotlist(values: dict, prefix: str = "") -> list[str]:
    items = []
    for key, value in values.items():
        if isinstance(value, dict):
            items += _dotlist(value, f"{prefix}{key}.")
        else:
            items.append(f"{prefix}{key}={'null' if value is None else value}")
    return items


def page_settings_of(record: dict) -> tuple[str, PageSettings]:
    """(montage, PageSettings) of a page record."""
    from cerebragloss.render import RenderSettings
    from cerebragloss.signals.filters import FilterSettings
    from cerebragloss.signals.segments import FlagSettings

    return record["montage"], PageSettings(filters=FilterSettings(**record["filters"]), flags=FlagSettings(**record.get("flags", {})),
                                           render=RenderSettings(**record["render"]))  # fmt: skip


def page_differences(a: dict, b: dict) -> list[str]:
    """Where two page records differ (``montage``, ``filters.h_freq``, ``render.width`` ...)."""
    differences = []
    for key in PAGE_KEYS:
        if key == "montage":
            if a.get(key) != b.get(key):
                differences.append(f"montage {a.get(key)} != {b.get(key)}")
            continue
        for name in sorted(set(a.get(key, {})) | set(b.get(key, {}))):
            if a.get(key, {}).get(name) != b.get(key, {}).get(name):
                differences.append(f"{key}.{name} {a.get(key, {}).get(name)} != {b.get(key, {}).get(name)}")
    return differences


def common_page(records: dict[str, dict | None]) -> dict | None:
    """The one page of several sources (``{where: record or None}``; None = no page, e.g.
    general image data); a ``PageMismatchError`` naming every difference when they disagree."""
    named = {where: record for where, record in records.items() if record is not None}
    if not named:
        return None
    (first_name, first), *others = named.items()
    problems = [f"{name} vs {first_name}: {'; '.join(d)}" for name, record in others if (d := page_differences(first, record))]
    if problems:
        raise PageMismatchError("the data mixes pages drawn with different settings: " + " | ".join(problems)
                                + ". Draw every shard set with the same annotate settings.")  # fmt: skip
    return first


def page_pixels(record: dict | None):
    """The processor's pixel range for a page: up to the full page (no downscaling), down to 256
    visual tokens (pages with few channels are shorter). Library default without a page."""
    from cerebragloss.model import PIXELS_PER_TOKEN, PixelRange

    if record is None:
        return PixelRange()
    render = record["render"]
    full = (render["width"] // 28) * (render["height"] // 28) * PIXELS_PER_TOKEN
    return PixelRange(min_pixels=min(256 * PIXELS_PER_TOKEN, full), max_pixels=full)


def write_model_page(directory: str | Path, record: dict | None, pixels) -> Path | None:
    """``PAGE_FILE`` beside an exported model: the page of its training data and the pixel range."""
    if record is None:
        return None
    from dataclasses import asdict

    path = Path(directory) / PAGE_FILE
    path.write_text(json.dumps(record | {"pixels": asdict(pixels)}, indent=1))
    return path


def record_export_page(trainer, directory: str | Path) -> Path | None:
    """Write ``PAGE_FILE`` beside a model exported by ``trainer`` (its datamodule's page)."""
    datamodule = trainer.datamodule
    return write_model_page(directory, getattr(datamodule, "page", None), getattr(datamodule, "pixels", None))


def model_page(model_dir: str | Path | None) -> dict | None:
    """The page a model was trained on (``PAGE_FILE`` beside it), or None."""
    path = Path(model_dir) / PAGE_FILE if model_dir else None
    return json.loads(path.read_text()) if path is not None and path.exists() else None


def page_for_model(model_dir: str | Path | None, montage: str | None = None) -> tuple[str | None, PageSettings]:
    """(montage, PageSettings) to draw pages for a model: those of its training data (``montage``
    None or ``auto`` = the model's). Asking for another montage than it was trained on is
    refused. Without a model or its ``PAGE_FILE`` (not exported by CerebraGloss): ``montage`` as
    given and the library's ``PageSettings()``."""
    record = model_page(model_dir)
    if record is None:
        return montage, PageSettings()
    # a model trained on "auto" pages (each recording in the best montage it allows) takes any
    if montage not in (None, "auto", record["montage"]) and record["montage"] != "auto":
        raise PageMismatchError(f"{model_dir} was trained on {record['montage']} pages; asked for {montage}. "
                                f"Leave the montage unset to use the model's, or use a model trained on {montage} pages.")  # fmt: skip
    trained_montage, page_settings = page_settings_of(record)
    return (montage if montage not in (None, "auto") else trained_montage), page_settings
