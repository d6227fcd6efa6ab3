"""Drawing a Segment as a clinical EEG page, and the Layout that maps pixels to channels and time.

A page looks like paper from a clinical reviewer: white background, black traces (negative up, as
EEG is read), channel labels at the left, a grid line every second, a calibration note and a
calibration bar. It is rasterised with numpy (PIL only for text, drawn once per layout and cached)
because the data engine draws millions of pages; see ``tools/bench_render.py`` for the speed.

The image is a 4-colour palette image (paper, grid, ink, accent). It opens as RGB everywhere
(``Image.open(...).convert("RGB")``, which is what the Qwen2.5-VL processor does) and encodes to
PNG several times faster and smaller than an RGB array of the same page.

Geometry lives in one place, :class:`Layout`: detector boxes, ground-truth boxes and the "where"
of captions all go through it, so that a change of geometry cannot desynchronise them.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from cerebragloss.signals.segments import Segment

#: Qwen2.5-VL turns each 28 x 28 pixel block into one visual token (14 px patches, merged 2 x 2).
QWEN_TOKEN_PX = 28

PAPER, GRID, INK, ACCENT = 0, 1, 2, 3
PALETTE = (
    (255, 255, 255),  # paper
    (190, 190, 190),  # grid
    (0, 0, 0),  # ink: traces and text
    (200, 30, 30),  # accent: calibration bar, overlays drawn later (detections)
)

MONTAGE_TITLES = {
    "as_recorded": "referential (as recorded)",
    "average": "common average",
    "longitudinal_bipolar": "longitudinal bipolar",
    "transverse_bipolar": "transverse bipolar",
}


@dataclass(frozen=True)
class RenderSettings:
    """Page geometry and scale.

    The default page is 1344 x 756 px = 48 x 27 blocks of 28 px, i.e. 1296 visual tokens in
    Qwen2.5-VL. Why this size: 10 s over 1250 px gives 125 px/s, so a 20-70 ms spike spans 3-9 px
    and a 10 Hz alpha wave 12 px (the 14 px ViT patch sees about one alpha cycle); 18-19 channels
    get 37-39 px per row, more than one 28 px token row each. Halving both sides (324 tokens)
    merges spikes into 1-2 px and rows into half a token; doubling (5184 tokens) quadruples
    training cost for detail a 10 uV/mm trace does not have.
    """

    width: int = 1344
    height: int = 756
    label_width: int = 84  #: left margin for channel labels
    right_margin: int = 10
    header_height: int = 24  #: page title (recording, time) above the traces
    footer_height: int = 28  #: calibration note below the traces
    sensitivity_uv_per_mm: float = 10.0  #: clinical sensitivity; with the time base it sets uV per pixel
    time_base_mm_per_s: float = 30.0  #: clinical paper speed; sets the nominal pixels per millimetre
    grid_s: float = 1.0  #: a vertical grid line every grid_s seconds
    calibration_bar_uv: float = 50.0
    #: tallest row band. Without a cap a one-channel page is one 700 px row at 10 uV/mm, where
    #: +-20 uV of sleep EEG fills 5 % of the paper. 120 px (29 mm at the default time base) holds
    #: a 250 uV peak-to-peak K-complex at 10 uV/mm; pages of up to 5 channels get shorter instead
    #: (1 row: 1344 x 196 px, 4 rows: 1344 x 532), still whole Qwen tokens, and the detector sees
    #: the trace fill its input rather than a strip of ink on empty paper.
    max_row_height: float = 120.0
    font_size: int = 12
    png_compress_level: int = 1  #: zlib level; with the RLE strategy higher levels gain little

    def __post_init__(self) -> None:
        problems = []
        if self.width <= self.label_width + self.right_margin + 10:
            problems.append(f"width={self.width} leaves no room for traces after label_width and right_margin")
        if self.height <= self.header_height + self.footer_height + 10:
            problems.append(f"height={self.height} leaves no room for traces after header and footer")
        for name in ("sensitivity_uv_per_mm", "time_base_mm_per_s", "grid_s", "max_row_height"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}={getattr(self, name)} must be positive")
        if problems:
            raise ValueError("RenderSettings: " + "; ".join(problems))

    @property
    def visual_tokens(self) -> int:
        """Qwen2.5-VL visual tokens for this page at its native size (sides rounded to 28 px)."""
        return round(self.width / QWEN_TOKEN_PX) * round(self.height / QWEN_TOKEN_PX)


@dataclass(frozen=True)
class Layout:
    """Where each channel and each moment of a page is, in pixels.

    Pixel ``(x, y)`` covers the square ``[x, x+1) x [y, y+1)``; boxes are ``(x0, y0, x1, y1)`` in
    those continuous coordinates (the convention of YOLO's xyxy). Channel ``i`` owns the row band
    ``[top + i*row_height, top + (i+1)*row_height)`` with its zero line at the band's centre.
    """

    width: int
    height: int
    left: float  #: x of time 0
    top: float  #: y of the first row band's upper edge
    px_per_s: float
    row_height: float
    duration_s: float
    uv_per_px: float  #: microvolts per pixel of deflection (positive voltage is drawn downwards)
    channels: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def for_page(cls, settings: RenderSettings, channels: list[str] | tuple[str, ...], duration_s: float) -> Layout:
        trace_width = settings.width - settings.label_width - settings.right_margin
        margins = settings.header_height + settings.footer_height
        rows = max(1, len(channels))
        height = settings.height
        if (height - margins) / rows > settings.max_row_height:
            # Few channels: a shorter page, rounded up to whole Qwen tokens, rows share the slack.
            needed = margins + rows * settings.max_row_height
            height = min(settings.height, math.ceil(needed / QWEN_TOKEN_PX) * QWEN_TOKEN_PX)
        px_per_s = trace_width / duration_s
        px_per_mm = px_per_s / settings.time_base_mm_per_s
        return cls(
            width=settings.width,
            height=height,
            left=float(settings.label_width),
            top=float(settings.header_height),
            px_per_s=px_per_s,
            row_height=(height - margins) / rows,
            duration_s=duration_s,
            uv_per_px=settings.sensitivity_uv_per_mm / px_per_mm,
            channels=tuple(channels),
        )

    # --- time <-> x -------------------------------------------------------------------------
    def x_of(self, time_s: float | np.ndarray) -> float | np.ndarray:
        """Continuous x coordinate of a time (seconds from the page start)."""
        return self.left + time_s * self.px_per_s

    def pixel_x(self, time_s: float) -> int:
        """The pixel column that contains ``time_s``."""
        return math.floor(self.left + time_s * self.px_per_s)

    def time_of_x(self, x: float) -> float:
        """Time (seconds from the page start) at continuous coordinate ``x``."""
        return (x - self.left) / self.px_per_s

    def time_of_pixel(self, column: int) -> float:
        """Time at the centre of a pixel column."""
        return self.time_of_x(column + 0.5)

    # --- channel <-> y ----------------------------------------------------------------------
    def index_of(self, channel: str | int) -> int:
        if isinstance(channel, int):
            if not 0 <= channel < len(self.channels):
                raise IndexError(f"channel index {channel} outside 0..{len(self.channels) - 1}")
            return channel
        try:
            return self.channels.index(channel)
        except ValueError:
            raise KeyError(f"channel {channel!r} is not on this page ({', '.join(self.channels)})") from None

    def baseline_y(self, channel: str | int) -> float:
        """Continuous y of a channel's zero line."""
        return self.top + (self.index_of(channel) + 0.5) * self.row_height

    def pixel_y(self, channel: str | int) -> int:
        """The pixel row of a channel's zero line."""
        return math.floor(self.baseline_y(channel))

    def channel_of_y(self, y: float) -> str:
        """The channel whose row band contains continuous coordinate ``y``."""
        index = math.floor((y - self.top) / self.row_height)
        return self.channels[min(max(index, 0), len(self.channels) - 1)]

    def channel_of_pixel(self, row: int) -> str:
        return self.channel_of_y(row + 0.5)

    # --- regions <-> boxes ------------------------------------------------------------------
    def box_of(self, channels: list[str] | tuple[str, ...], start_s: float, end_s: float) -> tuple[float, float, float, float]:
        """The box covering the row bands from the first to the last of ``channels`` over a time span."""
        indices = [self.index_of(c) for c in channels]
        if not indices:
            raise ValueError("box_of needs at least one channel")
        start_s, end_s = max(0.0, start_s), min(self.duration_s, end_s)
        return (
            float(self.x_of(start_s)),
            self.top + min(indices) * self.row_height,
            float(self.x_of(end_s)),
            self.top + (max(indices) + 1) * self.row_height,
        )

    def region_of(self, box: tuple[float, float, float, float]) -> tuple[list[str], float, float]:
        """Channels whose zero line lies inside the box (at least the nearest one) and its time span."""
        x0, y0, x1, y1 = box
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        inside = [c for i, c in enumerate(self.channels) if y0 <= self.top + (i + 0.5) * self.row_height <= y1]
        if not inside:
            inside = [self.channel_of_y((y0 + y1) / 2)]
        start_s = min(max(self.time_of_x(x0), 0.0), self.duration_s)
        end_s = min(max(self.time_of_x(x1), 0.0), self.duration_s)
        return inside, start_s, end_s

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Layout:
        data = dict(data)
        data["channels"] = tuple(data["channels"])
        return cls(**data)


@dataclass
class Page:
    """A rendered page: palette image plus the geometry and identity needed to read it back."""

    image: Image.Image
    layout: Layout
    segment: Segment
    settings: RenderSettings

    def rgb(self) -> np.ndarray:
        return np.asarray(self.image.convert("RGB"))

    def metadata(self) -> dict:
        """What ``pages.jsonl`` holds for this page: segment identity, layout, scale."""
        return {
            **self.segment.identity(),
            "layout": self.layout.to_dict(),
            "sensitivity_uv_per_mm": self.settings.sensitivity_uv_per_mm,
            "time_base_mm_per_s": self.settings.time_base_mm_per_s,
        }

    def png_bytes(self) -> bytes:
        buffer = io.BytesIO()
        info = PngImagePlugin.PngInfo()
        info.add_text("sensitivity_uv_per_mm", f"{self.settings.sensitivity_uv_per_mm:g}")
        info.add_text("time_base_mm_per_s", f"{self.settings.time_base_mm_per_s:g}")
        info.add_text("montage", self.segment.montage)
        info.add_text("filters", self.segment.filters)
        info.add_text("segment", self.segment.key)
        # Z_RLE: a page is long runs of paper between thin ink, which run-length matching codes
        # smaller and faster than zlib's default strategy (see tools/bench_render.py).
        self.image.save(
            buffer, "PNG", compress_level=self.settings.png_compress_level, compress_type=zlib.Z_RLE,
            bits=2, pnginfo=info,
        )  # fmt: skip
        return buffer.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the page as PNG through a temporary name, so a killed run leaves no half file."""
        path = Path(path)
        temporary = path.with_name(path.name + ".partial")
        temporary.write_bytes(self.png_bytes())
        temporary.replace(path)
        return path


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    # Pillow's bundled font: no font file needs to exist on the machine.
    return ImageFont.load_default(size=size)


def calibration_note(settings: RenderSettings, montage: str, filters: str) -> str:
    return (
        f"{settings.sensitivity_uv_per_mm:g} uV/mm   {settings.time_base_mm_per_s:g} mm/s   "
        f"{MONTAGE_TITLES.get(montage, montage)}   {filters}"
    )


@lru_cache(maxsize=64)
def _template(settings: RenderSettings, channels: tuple[str, ...], duration_s: float, note: str) -> np.ndarray:
    """Everything on a page that does not depend on the samples: paper, grid, labels, note, bar."""
    layout = Layout.for_page(settings, channels, duration_s)
    canvas = np.full((layout.height, layout.width), PAPER, dtype=np.uint8)
    trace_top, trace_bottom = int(layout.top), int(layout.top + layout.row_height * len(channels))
    n_lines = int(math.floor(duration_s / settings.grid_s + 1e-9))
    for k in range(n_lines + 1):
        column = min(layout.pixel_x(k * settings.grid_s), settings.width - 1)
        canvas[trace_top:trace_bottom, column] = GRID
    canvas[trace_top, int(layout.left) : layout.pixel_x(duration_s)] = GRID
    canvas[trace_bottom - 1, int(layout.left) : layout.pixel_x(duration_s)] = GRID

    image = Image.fromarray(canvas, mode="P")
    draw = ImageDraw.Draw(image)
    font = _font(settings.font_size)
    for channel in channels:
        draw.text((6, layout.baseline_y(channel)), channel, fill=INK, font=font, anchor="lm")
    footer_y = layout.height - settings.footer_height / 2
    draw.text((6, footer_y), note, fill=INK, font=font, anchor="lm")
    # Calibration bar: calibration_bar_uv tall, drawn at the bottom right as on paper.
    bar_px = settings.calibration_bar_uv / layout.uv_per_px
    bar_x = settings.width - settings.right_margin - 4
    if bar_px < settings.footer_height - 4:
        draw.line([(bar_x, footer_y - bar_px / 2), (bar_x, footer_y + bar_px / 2)], fill=ACCENT, width=2)
        draw.text((bar_x - 6, footer_y), f"{settings.calibration_bar_uv:g} uV", fill=ACCENT, font=font, anchor="rm")
    return np.array(image, dtype=np.uint8)


def _format_clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}" + (
        f".{int(round((seconds - whole) * 1000)):03d}" if abs(seconds - whole) > 1e-6 else ""
    )


@lru_cache(maxsize=16)
def _column_plan(n_samples: int, sfreq: float, left: float, px_per_s: float, width: int):
    """Where samples fall among pixel columns; the same for every page of one geometry, so cached."""
    sample_x = left + np.arange(n_samples) / sfreq * px_per_s
    first_column = math.floor(sample_x[0])
    last_column = min(math.floor(sample_x[-1]), width - 1)  # the column holding the last sample
    columns = np.arange(first_column, last_column + 1)
    # Column edges (len(columns) + 1) and the interpolation that gives the polyline there.
    edges = np.arange(first_column, last_column + 2, dtype=np.float64).clip(sample_x[0], sample_x[-1])
    right = np.searchsorted(sample_x, edges, side="left").clip(1, n_samples - 1)
    weight = ((edges - sample_x[right - 1]) / (sample_x[right] - sample_x[right - 1]))[None, :]
    # sample_x grows monotonically, so the samples inside one column are one contiguous run.
    sample_column = np.floor(sample_x).astype(np.intp) - first_column
    kept = np.flatnonzero((sample_column >= 0) & (sample_column < len(columns)))
    runs = None
    if kept.size:
        run_columns = sample_column[kept[0] : kept[-1] + 1]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(run_columns)) + 1))
        runs = (kept[0], kept[-1] + 1, starts, run_columns[starts])
    return columns, right, weight, runs


def trace_pixels(data: np.ndarray, sfreq: float, layout: Layout) -> np.ndarray:
    """Flat indices (``row * width + column``) of the ink pixels of every trace.

    Each pixel column of a channel is inked from the lowest to the highest point the polyline
    through the samples reaches inside that column (its value at both column edges, interpolated,
    and every sample between). This is exact for any ratio of samples to pixels, and costs one
    vectorised pass instead of drawing line segments one by one. Voltage is drawn negative up.
    """
    n_channels, n_samples = data.shape
    if n_channels == 0 or n_samples < 2:
        return np.zeros(0, dtype=np.intp)
    columns, right, weight, runs = _column_plan(n_samples, float(sfreq), layout.left, layout.px_per_s, layout.width)
    y = layout.top + (np.arange(n_channels)[:, None] + 0.5) * layout.row_height + data / layout.uv_per_px
    y_edges = y[:, right - 1] * (1 - weight) + y[:, right] * weight
    low = np.fmin(y_edges[:, :-1], y_edges[:, 1:])
    high = np.fmax(y_edges[:, :-1], y_edges[:, 1:])
    if runs is not None:  # None when there are more pixel columns than samples
        first, stop, starts, occupied = runs
        low[:, occupied] = np.fmin(low[:, occupied], np.fmin.reduceat(y[:, first:stop], starts, axis=1))
        high[:, occupied] = np.fmax(high[:, occupied], np.fmax.reduceat(y[:, first:stop], starts, axis=1))
    # NaN samples leave a gap; clip every span to the trace area so large deflections stop there.
    y_min = layout.top
    y_max = layout.top + layout.row_height * n_channels - 1
    valid = np.isfinite(low) & np.isfinite(high) & (high >= y_min) & (low <= y_max + 1)
    row_start = np.floor(np.clip(low[valid], y_min, y_max)).astype(np.intp)
    row_end = np.floor(np.clip(high[valid], y_min, y_max)).astype(np.intp)
    first_pixel = row_start * layout.width + np.broadcast_to(columns, low.shape)[valid]
    lengths = row_end - row_start + 1
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(first_pixel, lengths) + offsets * layout.width


def render_segment(segment: Segment, settings: RenderSettings | None = None) -> Page:
    """Draw one Segment as a page."""
    settings = settings or RenderSettings()
    if segment.data.shape[0] != len(segment.channels):
        raise ValueError(
            f"segment {segment.key}: {segment.data.shape[0]} data rows but {len(segment.channels)} channel names"
        )
    if not segment.channels:
        raise ValueError(f"segment {segment.key}: has no channels to draw")
    layout = Layout.for_page(settings, segment.channels, segment.duration_s)
    note = calibration_note(settings, segment.montage, segment.filters)
    canvas = _template(settings, tuple(segment.channels), segment.duration_s, note).copy()
    canvas.ravel()[trace_pixels(segment.data, segment.sfreq, layout)] = INK
    image = Image.fromarray(canvas, mode="P")
    title = f"{segment.recording}   {_format_clock(segment.start_s)} - {_format_clock(segment.start_s + segment.duration_s)}"
    ImageDraw.Draw(image).text((6, settings.header_height / 2), title, fill=INK, font=_font(settings.font_size), anchor="lm")
    image.putpalette([value for colour in PALETTE for value in colour])
    return Page(image=image, layout=layout, segment=segment, settings=settings)


@dataclass
class RenderReport:
    """What a render run did, per recording: pages written, or the error that stopped it."""

    pages: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def render_recordings(
    inputs: list[str | Path],
    out_dir: str | Path,
    *,
    montage: str = "auto",
    start_s: float = 0.0,
    pages: int | None = None,
    settings=None,
    partial: bool = True,
    progress: bool = True,
) -> RenderReport:
    """Render pages of each recording into ``out_dir`` (see ``tools/render.py``).

    ``montage="all"`` renders every montage the electrodes allow, each into ``out_dir/<montage>/``;
    ``"auto"`` the best one each recording allows (``signals.choose_montage``, noted per recording).
    A recording that cannot be read or drawn is reported and the run goes on with the next one.
    Each output folder gets ``pages.jsonl``: one line per page with its identity and Layout, and
    ``out_dir/render_settings.yaml`` records the settings (``cerebragloss.settings.PageSettings``).
    """
    import json

    from tqdm.auto import tqdm

    from cerebragloss.settings import PageSettings, write_settings
    from cerebragloss.signals import (
        MontageError,
        RecordingError,
        available_montages,
        canonical_montage,
        choose_montage,
        read_recording,
        segments_from_recording,
    )
    from cerebragloss.signals.io import expand_inputs

    settings = settings or PageSettings()
    out_dir = Path(out_dir)
    write_settings(settings, out_dir / "render_settings.yaml")
    files, problems = expand_inputs(list(inputs))
    report = RenderReport(errors={problem.split(":", 1)[0]: problem.split(": ", 1)[1] for problem in problems})
    every_montage = montage == "all"
    if not every_montage:
        montage = canonical_montage(montage, allow_auto=True)
    manifests: dict[Path, list[str]] = {}
    bar = tqdm(total=len(files), unit="recording", disable=not progress, desc="render")
    for path in files:
        try:
            recording = read_recording(path)
            choice = None if every_montage else choose_montage(recording.electrodes, montage)
            montages = available_montages(recording.electrodes) if every_montage else [choice.name]
            if not montages:
                raise MontageError(
                    "no montage possible: no 10-20 electrodes "
                    f"(channels: {', '.join(a.name for a in recording.aux) or 'none'})"
                )
            count = 0
            for name in montages:
                folder = out_dir / name if every_montage else out_dir
                folder.mkdir(parents=True, exist_ok=True)
                for segment in segments_from_recording(
                    recording, name, filters=settings.filters, flag_settings=settings.flags,
                    start_s=start_s, max_segments=pages, partial=partial,
                ):  # fmt: skip
                    page = render_segment(segment, settings.render)
                    page.save(folder / f"{recording.recording}_{int(round(segment.start_s * 1000))}.png")
                    manifests.setdefault(folder, []).append(json.dumps(page.metadata()))
                    count += 1
            report.pages[str(path)] = count
            report.notes[str(path)] = [recording.describe()] + ([f"montage {choice.describe()}"] if choice else [])
        except (RecordingError, MontageError, ValueError) as error:
            message = str(error)
            report.errors[str(path)] = message.split(f"{path}: ", 1)[-1]
        bar.update(1)
    bar.close()
    for folder, lines in manifests.items():
        temporary = folder / "pages.jsonl.partial"
        temporary.write_text("".join(line + "\n" for line in lines))
        temporary.replace(folder / "pages.jsonl")
    return report
