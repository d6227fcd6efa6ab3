"""The default detector (committed weights) on the real recordings of ../shared/data/eeg."""

import pytest

from cerebragloss.engine.detector import DEFAULT_WEIGHTS, WaveformDetector
from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.render import render_segment
from cerebragloss.signals import available_montages, read_recording, segments_from_recording
from tests.test_shared_recordings import RECORDINGS


@pytest.fixture(scope="module")
def detector():
    assert DEFAULT_WEIGHTS.exists(), f"{DEFAULT_WEIGHTS} missing: `make detector` rebuilds it"
    return WaveformDetector()


@pytest.mark.parametrize("name", [n for n, (electrodes, _) in RECORDINGS.items() if electrodes])
def test_real_recordings_go_through_the_detector(shared_eeg, detector, name):
    recording = read_recording(shared_eeg / name)
    montage = "longitudinal_bipolar" if "longitudinal_bipolar" in available_montages(recording.electrodes) else "as_recorded"
    pages = [render_segment(s) for s in segments_from_recording(recording, montage, max_segments=2, partial=True)]
    found = detector.detect(pages)
    assert len(found) == len(pages)
    for page, events in zip(pages, found, strict=True):
        for event in events:
            assert event["class"] in WAVEFORM_CLASSES
            assert set(event["channels"]) <= set(page.layout.channels)
            assert 0.0 <= event["start_s"] < event["end_s"] <= page.segment.duration_s
            assert event["confidence"] >= detector.settings.confidence


def test_default_weights_are_small_and_name_the_nine_classes(detector):
    assert DEFAULT_WEIGHTS.stat().st_size < 10 * 1024 * 1024
    assert [detector.model.names[i] for i in range(9)] == list(WAVEFORM_CLASSES)
