"""Truth -> page boxes through Layout, and boxes back to events."""

import numpy as np
import pytest

from cerebragloss.detection.detector import event_from_box
from cerebragloss.detection.truth import (
    BoxSettings,
    PageBox,
    channel_gain,
    contiguous_runs,
    label_boxes,
    page_background,
    truth_boxes,
)
from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.render import Layout, RenderSettings, render_segment
from cerebragloss.signals import TEN_TWENTY, apply_montage, cut_segments
from cerebragloss.signals.simulate import electrode_positions
from cerebragloss.signals.transients import make_event

SFREQ = 200.0
ELECTRODES = list(TEN_TWENTY)


def _page(data, montage="longitudinal_bipolar"):
    result = apply_montage(data, ELECTRODES, montage)
    segment = next(cut_segments(result.data, SFREQ, channels=result.channels, montage=montage, recording="r", subject="s"))
    return render_segment(segment)


def _event_ink(data, montage):
    """Pixels the event draws: ink of the page with the event minus ink of the flat page."""
    flat = _page(np.zeros_like(data), montage).rgb()[..., 0] == 0
    drawn = _page(data, montage).rgb()[..., 0] == 0
    return drawn & ~flat


@pytest.mark.parametrize("montage", ["longitudinal_bipolar", "as_recorded", "average"])
@pytest.mark.parametrize("label", WAVEFORM_CLASSES)
def test_every_truth_box_covers_the_pixels_its_waveform_draws(label, montage):
    rng = np.random.default_rng(WAVEFORM_CLASSES.index(label))
    positions = electrode_positions(ELECTRODES)
    for _ in range(3):
        event = make_event(label, 4.0, SFREQ, positions, rng)
        truth = event.truth()
        data = np.zeros((19, 2000))
        event.apply(data, ELECTRODES, SFREQ)
        page = _page(data, montage)
        boxes = truth_boxes([truth], page.layout, 0.0)
        largest_px = np.abs(apply_montage(data, ELECTRODES, montage).data).max() / page.layout.uv_per_px
        # A small spindle (10 uV peak-to-peak) may vanish in a montage that subtracts neighbours;
        # it is then unlabelled, and only then.
        assert bool(boxes) == (largest_px >= BoxSettings().min_visible_px), f"{label} in {montage}: {largest_px:.1f} px"
        for box in boxes:
            # Draw the event on this box's channels only: all of its ink is inside the box's extent,
            # and inside the box's time span.
            only = apply_montage(data, ELECTRODES, montage)
            keep = np.array([c in box.channels for c in only.channels])
            segment = next(cut_segments(np.where(keep[:, None], only.data, 0.0), SFREQ, channels=only.channels,
                                        montage=montage, recording="r", subject="s"))  # fmt: skip
            flat = render_segment(segment.__class__(**{**segment.__dict__, "data": np.zeros_like(segment.data)}))
            ink = (render_segment(segment).rgb()[..., 0] == 0) & ~(flat.rgb()[..., 0] == 0)
            ys, xs = np.nonzero(ink)
            assert len(xs), f"{label}: box on {box.channels} but nothing drawn there"
            x0, y0, x1, y1 = box.extent
            assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1) + 1
            assert ys.min() >= np.floor(y0) - 1 and ys.max() <= np.ceil(y1) + 1
            assert box.box[0] == x0 and box.box[2] == x1
            assert y0 <= box.box[1] and box.box[3] <= y1


def test_channels_left_out_of_a_box_are_barely_moved():
    rng = np.random.default_rng(1)
    positions = electrode_positions(ELECTRODES)
    settings = BoxSettings()
    for label in WAVEFORM_CLASSES:
        event = make_event(label, 4.0, SFREQ, positions, rng)
        truth = event.truth()
        data = np.zeros((19, 2000))
        event.apply(data, ELECTRODES, SFREQ)
        montage = apply_montage(data, ELECTRODES, "longitudinal_bipolar")
        page = _page(data)
        inside = {c for b in truth_boxes([truth], page.layout, 0.0) for c in b.channels}
        largest = np.abs(montage.data).max()
        for channel, row in zip(montage.channels, montage.data, strict=True):
            if channel not in inside:
                assert np.abs(row).max() < max(settings.min_visible_px * page.layout.uv_per_px, settings.min_relative * largest) + 1


def test_box_to_event_mapping_returns_the_boxed_channels_and_times():
    rng = np.random.default_rng(3)
    positions = electrode_positions(ELECTRODES)
    few_channels = Layout.for_page(RenderSettings(), ["Fp1-F7", "F7-T7", "T7-P7", "P7-O1", "Fz-Cz"], 10.0)
    for layout in (few_channels, _page(np.zeros((19, 2000))).layout):
        for label in WAVEFORM_CLASSES:
            event = make_event(label, 3.3, SFREQ, positions, rng)
            for box in truth_boxes([event.truth()], layout, 0.0):
                back = event_from_box(box.box, label, 0.9, layout)
                assert back["channels"] == box.channels
                assert back["start_s"] == pytest.approx(box.start_s, abs=0.01)
                assert back["end_s"] == pytest.approx(box.end_s, abs=0.01)
                assert back["class"] == label and back["source"] == "detector"


def test_events_cut_by_the_page_edge_are_kept_only_when_mostly_visible():
    layout = _page(np.zeros((19, 2000))).layout
    event = {"class": "k_complex", "onset_s": 9.6, "offset_s": 10.6, "channels": ["Fz"],
             "gains": {"Fz": 1.0, "Cz": 0.6}, "extremes_uv": [-150.0, 80.0]}  # fmt: skip
    assert truth_boxes([event], layout, 0.0) == []  # 0.4 of 1.0 s on this page
    next_page = truth_boxes([event], layout, 10.0)  # 0.6 s on the next one
    assert next_page and next_page[0].start_s == 0.0 and next_page[0].end_s == pytest.approx(0.66)


def test_channel_gain_of_bipolar_average_and_referential_channels():
    gains = {"C3": 1.0, "F3": 0.25, "P3": 0.25}
    assert channel_gain("F3-C3", gains, []) == pytest.approx(-0.75)
    assert channel_gain("C3-P3", gains, []) == pytest.approx(0.75)
    assert channel_gain("C3", gains, []) == 1.0
    assert channel_gain("C3-AVG", gains, ["C3-AVG", "F3-AVG", "P3-AVG", "O1-AVG"]) == pytest.approx(1.0 - 1.5 / 4)


def test_expert_labels_name_electrodes_or_channels_and_split_into_row_runs():
    layout = _page(np.zeros((19, 2000))).layout
    by_electrode = label_boxes([{"class": "spike", "channels": ["F8"], "onset_s": 2.0, "offset_s": 2.1}], layout, 0.0)
    assert [b.channels for b in by_electrode] == [["Fp2-F8", "F8-T8"]]
    by_channel = label_boxes([{"class": "spike", "channels": ["Fp1-F7", "Fz-Cz"], "onset_s": 2.0, "offset_s": 2.1}], layout, 0.0)
    assert [b.channels for b in by_channel] == [["Fp1-F7"], ["Fz-Cz"]]
    everywhere = label_boxes([{"class": "spike_and_slow_wave", "channels": [], "onset_s": 1, "offset_s": 3}], layout, 0.0)
    assert everywhere[0].channels == list(layout.channels)
    assert contiguous_runs(["F7-T7", "Fp1-F7", "P7-O1"], layout) == [["Fp1-F7", "F7-T7"], ["P7-O1"]]


def test_yolo_lines_are_normalised_centre_and_size():
    box = PageBox("posts", (100.0, 50.0, 300.0, 150.0), ["O1"], 1.0, 2.0)
    assert box.yolo_line(1000, 500) == "8 0.200000 0.200000 0.200000 0.200000"


def test_an_event_buried_in_its_background_is_not_labelled_and_a_spindle_is_seen_in_its_band():
    """The label audit's rule: a channel is part of an event only where the event's peak-to-peak
    reaches half the channel's background peak-to-peak on that page; a spindle is compared with
    the sigma band, where a reader sees it over slow waves of several times its size."""
    t = np.arange(2000) / SFREQ
    layout = _page(np.zeros((19, 2000)), "as_recorded").layout
    spike = {"class": "spike", "onset_s": 4.0, "offset_s": 4.05, "channels": ["C3"],
             "gains": {"C3": 1.0}, "extremes_uv": [-20.0, 2.0]}  # fmt: skip
    alpha = np.zeros((19, 2000))
    alpha[ELECTRODES.index("C3")] = 30 * np.sin(2 * np.pi * 10 * t)  # 60 uV peak-to-peak
    background = page_background(alpha, SFREQ, list(layout.channels))
    assert background["broadband"]["C3"] == pytest.approx(60, rel=0.02) and background["broadband"]["C4"] == 0
    assert [b.channels for b in truth_boxes([spike], layout, 0.0)] == [["C3"]]  # visible on a flat page...
    assert truth_boxes([spike], layout, 0.0, background=background) == []  # ...22 uV in 60 uV of alpha is not
    loud = {**spike, "extremes_uv": [-40.0, 2.0]}  # 42 uV: 0.7 of the background, kept
    assert [b.channels for b in truth_boxes([loud], layout, 0.0, background=background)] == [["C3"]]

    spindle = {"class": "sleep_spindle", "onset_s": 4.0, "offset_s": 5.0, "channels": ["C3"],
               "gains": {"C3": 1.0}, "extremes_uv": [-12.0, 12.0]}  # fmt: skip
    slow = np.zeros((19, 2000))
    slow[ELECTRODES.index("C3")] = 50 * np.sin(2 * np.pi * 1.0 * t) + 3 * np.sin(2 * np.pi * 13 * t)
    background = page_background(slow, SFREQ, list(layout.channels))
    assert background["broadband"]["C3"] > 90 and background["sleep_spindle"]["C3"] == pytest.approx(6, rel=0.1)
    assert [b.channels for b in truth_boxes([spindle], layout, 0.0, background=background)] == [["C3"]]
