"""Page geometry: Layout round trips, where drawn pixels land, what a page carries."""

import io
import math

import numpy as np
import pytest
from PIL import Image

from cerebragloss.render import (
    INK,
    QWEN_TOKEN_PX,
    Layout,
    RenderSettings,
    render_segment,
    trace_pixels,
)
from cerebragloss.signals import Segment

CHANNELS = ["Fp1-F7", "F7-T7", "T7-P7", "P7-O1", "Fz-Cz"]


def _segment(data, sfreq=200.0, channels=CHANNELS, montage="longitudinal_bipolar"):
    return Segment(data=np.asarray(data, dtype=np.float32), sfreq=sfreq, channels=list(channels), montage=montage,
                   recording="rec", subject="s", start_s=20.0, filters="LFF 0.5 Hz HFF 70 Hz notch off")  # fmt: skip


def test_default_page_is_whole_qwen_tokens():
    settings = RenderSettings()
    assert settings.width % QWEN_TOKEN_PX == 0 and settings.height % QWEN_TOKEN_PX == 0
    assert settings.visual_tokens == (1344 // 28) * (756 // 28) == 1296


@pytest.mark.parametrize("n_channels", [1, 5, 18, 19, 23])
@pytest.mark.parametrize("size", [(1344, 756), (1000, 600), (448, 448)])
def test_layout_round_trip_is_exact_to_a_pixel(n_channels, size):
    settings = RenderSettings(width=size[0], height=size[1])
    channels = [f"c{i}" for i in range(n_channels)]
    layout = Layout.for_page(settings, channels, 10.0)
    # pixel -> time -> pixel and pixel -> channel -> pixel are the identity
    for column in range(int(layout.left), int(layout.x_of(10.0))):
        assert layout.pixel_x(layout.time_of_pixel(column)) == column
    for index, channel in enumerate(channels):
        assert layout.channel_of_pixel(layout.pixel_y(channel)) == channel
        assert layout.channel_of_y(layout.baseline_y(index)) == channel
    # time -> pixel -> time lands within half a pixel
    for t in np.linspace(0, 9.999, 997):
        assert abs(layout.time_of_pixel(layout.pixel_x(t)) - t) <= 0.5 / layout.px_per_s + 1e-12
    # boxes: region -> box -> region is exact
    for first in range(n_channels):
        for last in range(first, n_channels):
            names, start, end = layout.region_of(layout.box_of(channels[first : last + 1], 1.234, 5.678))
            assert names == channels[first : last + 1]
            assert start == pytest.approx(1.234) and end == pytest.approx(5.678)
    assert Layout.from_dict(layout.to_dict()) == layout


def test_drawn_pixels_land_where_layout_says():
    sfreq = 200.0
    data = np.zeros((5, 2000))
    # Channel 2: a -60 uV square pulse from 3.0 s to 3.5 s (negative is drawn upwards).
    data[2, 600:700] = -60.0
    page = render_segment(_segment(data))
    layout = page.layout
    ink = np.asarray(page.image) == INK
    for index in range(5):
        baseline = layout.pixel_y(index)
        for t in (0.5, 1.7, 2.5, 6.2, 9.5):  # the zero line is inked exactly at the baseline row
            column = layout.pixel_x(t)
            assert ink[baseline, column], (index, t)
            assert not ink[baseline - 3 : baseline, column].any() and not ink[baseline + 1 : baseline + 4, column].any()
    pulse_row = math.floor(layout.baseline_y(2) - 60.0 / layout.uv_per_px)
    inside = [layout.pixel_x(t) for t in (3.05, 3.2, 3.45)]
    assert all(ink[pulse_row, c] and not ink[layout.pixel_y(2), c] for c in inside)
    # each pulse edge is a stroke joining the rows, drawn in the columns between the last sample
    # before the step and the first after it (a polyline through the samples)
    for edge in (3.0, 3.5):
        columns = slice(layout.pixel_x(edge - 1 / sfreq), layout.pixel_x(edge) + 1)
        assert ink[pulse_row : layout.pixel_y(2) + 1, columns].any(axis=1).all()
        assert not ink[pulse_row : layout.pixel_y(2) + 1, layout.pixel_x(edge) + 2].all()


def test_trace_pixels_cover_every_column_even_with_fewer_samples_than_pixels():
    layout = Layout.for_page(RenderSettings(), ["a"], 10.0)
    for sfreq in (50.0, 125.0, 200.0, 512.0):
        t = np.arange(int(10 * sfreq)) / sfreq
        rows, columns = np.divmod(trace_pixels((30 * np.sin(2 * np.pi * 1.0 * t))[None], sfreq, layout), layout.width)
        assert set(columns) == set(range(int(layout.left), layout.pixel_x(10.0 - 1 / sfreq) + 1))
        expected_span = 2 * 30 / layout.uv_per_px
        assert rows.max() - rows.min() == pytest.approx(expected_span, abs=1.5)


def test_nan_samples_leave_a_gap_and_huge_values_stay_on_the_page():
    data = np.zeros((5, 2000))
    data[0, 1000:1200] = np.nan
    data[4] = 1e6  # far beyond the page
    page = render_segment(_segment(data))
    ink = np.asarray(page.image) == INK
    layout = page.layout
    assert not ink[layout.pixel_y(0), layout.pixel_x(5.5)]
    assert ink[layout.pixel_y(0), layout.pixel_x(4.5)]
    trace_bottom = int(layout.top + layout.row_height * 5)
    data[4] = 0.0
    calm = np.asarray(render_segment(_segment(data)).image)
    # a trace entirely off the page is not drawn (as in a viewer's window), nor spills into the footer
    assert not ink[int(layout.top + 4 * layout.row_height) : trace_bottom, layout.pixel_x(2.0)].any()
    np.testing.assert_array_equal(np.asarray(page.image)[trace_bottom:], calm[trace_bottom:])


def test_png_opens_as_rgb_with_scale_in_its_metadata(tmp_path):
    page = render_segment(_segment(np.random.default_rng(0).normal(scale=20, size=(5, 2000))))
    path = page.save(tmp_path / "page.png")
    image = Image.open(path)
    assert image.size == (1344, 672)  # 5 rows: a shorter page (RenderSettings.max_row_height)
    assert image.info["sensitivity_uv_per_mm"] == "10" and image.info["time_base_mm_per_s"] == "30"
    assert image.info["montage"] == "longitudinal_bipolar" and image.info["segment"] == "rec_000020000"
    rgb = np.asarray(image.convert("RGB"))
    assert rgb.shape == (672, 1344, 3)
    assert (rgb[5, 1000] == 255).all()  # white paper
    assert (rgb == 0).all(axis=-1).sum() > 5 * 1000  # black ink
    assert Image.open(io.BytesIO(page.png_bytes())).size == (1344, 672)
    metadata = page.metadata()
    assert metadata["layout"]["channels"] == CHANNELS and metadata["start_s"] == 20.0


def test_settings_report_every_problem():
    with pytest.raises(ValueError) as error:
        RenderSettings(width=50, height=20, sensitivity_uv_per_mm=0)
    assert all(word in str(error.value) for word in ("width=50", "height=20", "sensitivity_uv_per_mm=0"))


@pytest.mark.parametrize("n_channels", [1, 2, 4, 5, 6, 19])
def test_few_channel_pages_are_shorter_with_capped_rows_in_whole_tokens(n_channels):
    settings = RenderSettings()
    layout = Layout.for_page(settings, [f"c{i}" for i in range(n_channels)], 10.0)
    assert layout.height % QWEN_TOKEN_PX == 0 and layout.height <= settings.height
    # The cap holds up to rounding to whole tokens; six rows and more fill the default page.
    assert layout.row_height <= settings.max_row_height + QWEN_TOKEN_PX / n_channels
    if n_channels >= 6:
        assert layout.height == settings.height
    else:
        assert layout.height < settings.height and layout.row_height >= settings.max_row_height
    assert layout.top + n_channels * layout.row_height + settings.footer_height == pytest.approx(layout.height)


def test_a_single_channel_page_draws_a_small_spindle_on_a_paper_it_fills():
    # One C3 row at 5 uV/mm: a 10 uV peak-to-peak 13 Hz spindle is 8 px from trough to crest,
    # and the page is 196 px tall, not a 700 px row of empty paper.
    sfreq, t = 200.0, np.arange(2000) / 200.0
    spindle = np.where((t > 4) & (t < 5), 5.0 * np.sin(2 * np.pi * 13 * t), 0.0)
    page = render_segment(_segment(spindle[None], sfreq, channels=["C3"], montage="as_recorded"),
                          RenderSettings(sensitivity_uv_per_mm=5.0))  # fmt: skip
    assert page.image.size == (1344, 196)
    ink = np.asarray(page.image) == INK
    column = slice(page.layout.pixel_x(4.2), page.layout.pixel_x(4.8))
    rows = np.flatnonzero(ink[int(page.layout.top) : int(page.layout.top + page.layout.row_height), column].any(axis=1))
    assert rows.max() - rows.min() + 1 >= 8


def test_the_footer_of_a_slowly_sampled_recording_claims_no_filter_above_its_nyquist(write_edf):
    from cerebragloss.render import calibration_note
    from cerebragloss.signals import read_recording, segments_from_recording
    from tests.conftest import sine

    recording = read_recording(write_edf({e: sine(6, 20, sfreq=50.0, amplitude=30) for e in ("Fp1", "F7", "T7")}, sfreq=50.0))
    page = render_segment(next(segments_from_recording(recording, max_segments=1)))
    note = calibration_note(page.settings, page.segment.montage, page.segment.filters)
    assert "HFF 22.5 Hz (70 Hz > Nyquist 25 Hz of 50 Hz data)" in note and "HFF 70 Hz" not in note
    assert Image.open(io.BytesIO(page.png_bytes())).info["filters"] == page.segment.filters
