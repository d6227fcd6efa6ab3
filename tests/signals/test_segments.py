import numpy as np
import pytest

from cerebragloss.signals import (
    FilterSettings,
    cut_segments,
    find_signal_problems,
    read_recording,
    segments_from_recording,
)
from tests.conftest import sine


def test_pages_are_whole_with_optional_stride_and_padded_last_page():
    data = np.arange(2 * 2500, dtype=float).reshape(2, 2500)  # 25 s at 100 Hz
    kwargs = dict(channels=["a", "b"], montage="as_recorded", recording="r", subject="s")
    pages = list(cut_segments(data, 100.0, **kwargs))
    assert [p.start_s for p in pages] == [0.0, 10.0]
    assert pages[1].data[0, 0] == 1000 and pages[0].data.dtype == np.float32
    overlapping = list(cut_segments(data, 100.0, stride_s=5.0, **kwargs))
    assert [p.start_s for p in overlapping] == [0.0, 5.0, 10.0, 15.0]
    padded = list(cut_segments(data, 100.0, partial=True, **kwargs))
    assert len(padded) == 3 and np.isnan(padded[2].data[:, 500:]).all()
    assert padded[2].flags[-1].kind == "padding" and padded[2].flags[-1].start_s == pytest.approx(5.0)
    assert pages[1].key == "r_000010000"


def test_flat_clipped_and_nan_spans_are_flagged_in_recording_time():
    sfreq = 200.0
    base = sine(7, 20, sfreq, 40) + np.random.default_rng(0).normal(scale=5, size=4000)
    flat, clipped, holes = base.copy(), base.copy(), base.copy()
    flat[1000:1600] = 3.0  # 3 s flat from 5 s
    clipped = np.clip(clipped * 3, -100, 100)  # saturates at +-100 on every peak
    holes[2000:2100] = np.nan  # 0.5 s NaN from 10 s
    flags = find_signal_problems(np.vstack([base, flat, clipped, holes]), sfreq, ["ok", "flat", "clip", "nan"])
    by_channel = {}
    for flag in flags:
        by_channel.setdefault(flag.channel, []).append(flag)
    assert "ok" not in by_channel
    (flat_flag,) = by_channel["flat"]
    assert flat_flag.kind == "flat" and flat_flag.start_s == pytest.approx(5.0) and flat_flag.end_s == pytest.approx(8.0)
    assert all(f.kind == "clipped" for f in by_channel["clip"]) and len(by_channel["clip"]) > 20
    (nan_flag,) = by_channel["nan"]
    assert (nan_flag.kind, nan_flag.start_s, nan_flag.end_s) == ("nan", 10.0, 10.5)


def test_recording_to_segments_carries_identity_flags_and_filter_note(write_edf):
    flat = np.zeros(200 * 25)
    path = write_edf({"EEG FP1-REF": sine(10, 25), "EEG F7-REF": flat, "EEG O1-REF": sine(11, 25)}, name="pt7_s1.edf")
    recording = read_recording(path)
    pages = list(segments_from_recording(recording, "as_recorded", filters=FilterSettings(notch_hz=50)))
    assert len(pages) == 2
    first = pages[0]
    assert (first.recording, first.subject, first.montage) == ("pt7_s1", "pt7", "as_recorded")
    assert first.channels == ["Fp1", "F7", "O1"] and "Cz" in first.missing
    assert first.data.shape == (3, 2000) and first.filters.endswith("notch 50 Hz")
    assert {(f.kind, f.channel) for f in first.flags} == {("flat", "F7")}
    assert max(f.end_s for f in first.flags) == pytest.approx(10.0)


def test_a_few_pages_of_a_long_recording_match_the_same_pages_cut_from_the_whole(write_edf):
    path = write_edf({"Fp1": np.random.default_rng(3).normal(scale=20, size=200 * 120), "O1": sine(10, 120)})
    recording = read_recording(path)
    whole = {p.start_s: p for p in segments_from_recording(recording, "as_recorded")}
    some = list(segments_from_recording(recording, "as_recorded", start_s=50.0, max_segments=2))
    assert [p.start_s for p in some] == [50.0, 60.0]
    for page in some:
        np.testing.assert_allclose(page.data, whole[page.start_s].data, atol=0.05)
