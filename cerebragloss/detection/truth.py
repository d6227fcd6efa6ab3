"""Labelled waveforms -> page boxes, through Layout.

Two kinds of labels come in:

- simulator truth: each event has a scalp field (gain per electrode) and the extremes of its
  waveform, so its contribution to any montage channel ``a - b`` is ``gain[a] - gain[b]`` times
  the waveform. A channel is part of the event where that contribution is visible. The box is
  the row bands of those channels (one box per run of adjacent rows); ``extent`` adds the trace's
  actual excursion (a 200 uV spike overflows its row band).
- expert labels (CSV rows, EDF+ annotations): the channels are named, the box covers their row
  bands over the labelled span.

Either way the box goes through ``Layout``, so a change of page geometry moves labels and pixels
together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.render import Layout


@dataclass(frozen=True)
class BoxSettings:
    """How truth becomes a box on a page."""

    #: a channel belongs to an event where the event moves its trace by at least this many
    #: pixels (3 px: a 15 uV peak-to-peak spindle at 10 uV/mm, 6 px from trough to crest; a
    #: fixed number of microvolts would label invisible events at 15 uV/mm, or miss visible ones
    #: at 5 uV/mm)...
    min_visible_px: float = 3.0
    #: ...and by at least this fraction of the event's largest deflection on the page...
    min_relative: float = 0.3
    #: ...and, where the page's background is known (:func:`page_background`), its peak-to-peak
    #: deflection is at least this fraction of the channel's background peak-to-peak (median of
    #: the page's 1 s windows; for spindles in the sigma band, where a reader sees them). The
    #: label audit (``tools/detector_dataset.py --audit``) found 5-28 % of transient boxes under
    #: half their background: a 20 uV spike in 60 uV of alpha is in the truth file, not on the paper.
    min_background_ratio: float = 0.5
    #: seconds added before and after the waveform: a reader boxes a spike with some margin, and
    #: 5 px boxes would make IoU hostage to one pixel
    margin_s: float = 0.06
    #: an event cut by the page edge is labelled only if this much of it is on the page
    min_visible_fraction: float = 0.5
    #: rows of one event closer than this many uninvolved rows share a box: a K-complex shows in
    #: every other parasagittal row of the double banana and is one finding, not five; a focal
    #: spike at F8 and its faint echo eight rows down in F4-C4 stay two boxes
    max_row_gap: int = 2


@dataclass
class PageBox:
    """One labelled waveform on one page: pixel box plus the region it stands for."""

    label: str
    #: x0, y0, x1, y1 in page pixels: the row bands of ``channels`` over the span. This is what
    #: the detector learns, so a detected box maps back to channels without ambiguity.
    box: tuple[float, float, float, float]
    channels: list[str]
    start_s: float  #: seconds from the page start
    end_s: float
    #: the box grown to everything the waveform draws: a 200 uV spike overflows its row band
    #: (simulator truth only; expert labels carry no amplitude)
    extent: tuple[float, float, float, float] | None = None

    @property
    def class_index(self) -> int:
        return WAVEFORM_CLASSES.index(self.label)

    def yolo_line(self, width: int, height: int) -> str:
        """``class x_centre y_centre w h`` normalised to the image, as ultralytics reads labels."""
        x0, y0, x1, y1 = self.box
        values = ((x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height)
        return f"{self.class_index} " + " ".join(f"{v:.6f}" for v in values)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["box"] = [round(v, 2) for v in self.box]
        if self.extent is not None:
            data["extent"] = [round(v, 2) for v in self.extent]
        return data


def derivation_of(channel: str) -> tuple[str, str | None]:
    """``"Fp1-F7"`` -> ``("Fp1", "F7")``; ``"C3-AVG"`` -> ``("C3", "AVG")``; ``"C3"`` -> ``("C3", None)``."""
    active, _, reference = channel.partition("-")
    return active, (reference or None)


def channel_gain(channel: str, gains: dict[str, float], electrodes_on_page: list[str]) -> float:
    """How much of an event's waveform appears on a montage channel, given its scalp field."""
    active, reference = derivation_of(channel)
    gain = gains.get(active, 0.0)
    if reference == "AVG":
        scalp = [derivation_of(c)[0] for c in electrodes_on_page]
        return gain - sum(gains.get(e, 0.0) for e in scalp) / max(1, len(scalp))
    if reference is not None:
        gain -= gains.get(reference, 0.0)
    return gain


def _clip_span(onset_s: float, offset_s: float, page_start_s: float, duration_s: float, settings: BoxSettings):
    start, end = onset_s - page_start_s, offset_s - page_start_s
    visible = min(end, duration_s) - max(start, 0.0)
    if visible <= 0 or visible < settings.min_visible_fraction * (end - start):
        return None
    return max(0.0, start - settings.margin_s), min(duration_s, end + settings.margin_s)


#: where a class is seen against its background: spindles as a sigma-band burst (11-16 Hz, AASM),
#: everything else against the whole trace
BACKGROUND_BANDS: dict[str, tuple[float, float]] = {"sleep_spindle": (11.0, 16.0)}


def page_background(data, sfreq: float, channels: list[str]) -> dict[str, dict[str, float]]:
    """Background peak-to-peak per band (``"broadband"`` and each of :data:`BACKGROUND_BANDS`'
    classes) per channel of one page: the median over its 1 s windows, so a 1 s event on the page
    barely moves it. ``data`` is the page's ``[channels, samples]`` in microvolts."""
    import numpy as np
    from scipy.signal import butter, sosfiltfilt

    data = np.asarray(data, dtype=float)
    window = int(round(sfreq))

    def median_pp(signal) -> float:
        pieces = [signal[i : i + window] for i in range(0, len(signal) - window + 1, window)]
        return float(np.median([p.max() - p.min() for p in pieces])) if pieces else 0.0

    result = {"broadband": {c: median_pp(data[i]) for i, c in enumerate(channels)}}
    for label, (low, high) in BACKGROUND_BANDS.items():
        banded = sosfiltfilt(butter(4, [low, high], btype="band", fs=sfreq, output="sos"), data, axis=-1)
        result[label] = {c: median_pp(banded[i]) for i, c in enumerate(channels)}
    return result


def truth_boxes(events: list[dict], layout: Layout, page_start_s: float, settings: BoxSettings | None = None,
                background: dict[str, dict[str, float]] | None = None) -> list[PageBox]:  # fmt: skip
    """Boxes for simulator truth events (``events.json`` records) that show on this page.
    ``background`` (:func:`page_background` of the page) adds the ``min_background_ratio`` rule."""
    settings = settings or BoxSettings()
    boxes = []
    for event in events:
        span = _clip_span(event["onset_s"], event["offset_s"], page_start_s, layout.duration_s, settings)
        if span is None:
            continue
        low, high = event["extremes_uv"]
        deflection = {}
        for channel in layout.channels:
            gain = channel_gain(channel, event["gains"], list(layout.channels))
            deflection[channel] = sorted((gain * low, gain * high))
        largest = max(max(abs(a), abs(b)) for a, b in deflection.values())
        threshold = max(settings.min_visible_px * layout.uv_per_px, settings.min_relative * largest)
        channels = [c for c, (a, b) in deflection.items() if max(abs(a), abs(b)) >= threshold]
        if background is not None:
            against = background.get(event["class"], background["broadband"])
            channels = [c for c in channels if deflection[c][1] - deflection[c][0] >= settings.min_background_ratio * against.get(c, 0.0)]
        # (an empty list: this montage cancels the event's field, there is nothing to see)
        # One box per run of nearby rows: a focal spike at F8 shows in Fp2-F8 and F8-T8, and a
        # box from there to a faint F4-C4 would cover eight rows with nothing on them.
        for run in contiguous_runs(channels, layout, settings.max_row_gap):
            box = layout.box_of(run, *span)
            x0, y0, x1, y1 = box
            for channel in run:
                a, b = deflection[channel]
                # Positive voltage is drawn downwards: the trace spans baseline + [low, high] / uv_per_px.
                y0 = min(y0, layout.baseline_y(channel) + a / layout.uv_per_px)
                y1 = max(y1, layout.baseline_y(channel) + b / layout.uv_per_px)
            extent = (x0, max(0.0, y0), x1, min(float(layout.height), y1))
            boxes.append(PageBox(event["class"], box, run, round(span[0], 4), round(span[1], 4), extent))
    return boxes


def contiguous_runs(channels: list[str], layout: Layout, max_gap: int = 0) -> list[list[str]]:
    """``channels`` grouped into runs of rows on the page; a run bridges at most ``max_gap`` rows
    that are not in ``channels`` and then includes them (a box covers every row between its
    first and last, and maps back to all of them)."""
    rows = sorted(layout.index_of(c) for c in channels)
    runs: list[list[int]] = []
    for row in rows:
        if runs and row - runs[-1][-1] <= max_gap + 1:
            runs[-1].append(row)
        else:
            runs.append([row])
    return [list(layout.channels[run[0] : run[-1] + 1]) for run in runs]


def electrodes_to_channels(names: list[str], layout: Layout) -> list[str]:
    """Page channels meant by a label's channel list: exact channel labels, or electrodes
    (every channel whose derivation uses one of them)."""
    wanted = {n.strip() for n in names if n.strip()}
    exact = [c for c in layout.channels if c in wanted]
    if exact:
        return exact
    return [c for c in layout.channels if set(filter(None, derivation_of(c))) & wanted]


def label_boxes(labels: list[dict], layout: Layout, page_start_s: float, settings: BoxSettings | None = None) -> list[PageBox]:
    """Boxes for expert labels ``{"class", "channels", "onset_s", "offset_s"}`` on this page.

    Channels may be the page's own labels (``Fp1-F7``) or electrodes (``C3``); an empty list means
    every channel (a generalized finding).
    """
    settings = settings or BoxSettings()
    boxes = []
    for label in labels:
        span = _clip_span(label["onset_s"], label["offset_s"], page_start_s, layout.duration_s, settings)
        if span is None:
            continue
        channels = electrodes_to_channels(label["channels"], layout) if label["channels"] else list(layout.channels)
        for run in contiguous_runs(channels, layout, settings.max_row_gap):
            boxes.append(PageBox(label["class"], layout.box_of(run, *span), run, round(span[0], 4), round(span[1], 4)))
    return boxes
