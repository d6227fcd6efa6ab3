"""Every real recording in ../shared/data/eeg opens, maps its channels and renders in each
montage its electrodes allow. Skipped, with the reason, where that folder is absent."""

import numpy as np
import pytest
from scipy.signal import welch

from cerebragloss.render import INK, render_segment
from cerebragloss.signals import (
    RecordingError,
    available_montages,
    choose_montage,
    read_recording,
    segments_from_recording,
)
from cerebragloss.signals.io import expand_inputs
from tests.conftest import SHARED_EEG

RECORDINGS = {
    # file: (10-20 electrodes present, montages possible, montage chosen by default)
    "eegmat/Subject00_1.edf": (19, 4, "longitudinal_bipolar"),
    "eegmat/Subject00_2.edf": (19, 4, "longitudinal_bipolar"),
    "nihon_kohden/MB0400FU.EEG": (19, 4, "longitudinal_bipolar"),
    "nihon_kohden/MB0400FU.EDF": (19, 4, "longitudinal_bipolar"),
    "edf/chtypes_edf.edf": (19, 4, "longitudinal_bipolar"),
    "edf/test_edf_overlapping_annotations.edf": (19, 4, "longitudinal_bipolar"),
    "eegbci/S001R03.edf": (19, 4, "longitudinal_bipolar"),
    # C3 C4 F3 Fz F4 P3 Pz P4 O1 O2: the parasagittal chains reach 8 of the 10
    "bdf/multiple_annotation_chans.bdf": (10, 4, "longitudinal_bipolar"),
    "sleep/spinky_c3_train.edf": (1, 1, "as_recorded"),  # one C3 channel
    "sleep/spinky_c3_test.edf": (1, 1, "as_recorded"),
    "sleep/spinky_c3_kcomplex.edf": (1, 1, "as_recorded"),
}
#: files that are not EEG: test signals (sines, ramps) and no electrode
NOT_EEG = {"edf/test_utf8_annotations.edf": "this file holds no EEG signal: none of its 11 channels"}


def test_the_list_above_covers_every_recording(shared_eeg):
    files, _ = expand_inputs([shared_eeg])
    assert {str(p.relative_to(shared_eeg.resolve())) for p in files} == set(RECORDINGS) | set(NOT_EEG)


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_opens_maps_and_renders_in_every_possible_montage(shared_eeg, name):
    electrodes, montages, chosen = RECORDINGS[name]
    recording = read_recording(shared_eeg / name)
    assert 19 - len(recording.missing) == electrodes, recording.describe()
    assert len(available_montages(recording.electrodes)) == montages
    assert choose_montage(recording.electrodes).name == chosen
    for montage in available_montages(recording.electrodes):
        segment = next(segments_from_recording(recording, montage, max_segments=1, partial=True))
        page = render_segment(segment)
        ink = np.asarray(page.image) == INK
        for channel in segment.channels:  # every channel has a trace through its row band
            band = slice(int(page.layout.top + page.layout.index_of(channel) * page.layout.row_height),
                         int(page.layout.top + (page.layout.index_of(channel) + 1) * page.layout.row_height))  # fmt: skip
            assert ink[band, page.layout.pixel_x(1.0) : page.layout.pixel_x(4.0)].any(), (montage, channel)


@pytest.mark.parametrize("name", sorted(NOT_EEG))
def test_a_file_without_eeg_says_so(shared_eeg, name):
    with pytest.raises(RecordingError, match=NOT_EEG[name]):
        read_recording(shared_eeg / name)


def test_no_page_claims_a_low_pass_above_the_recordings_nyquist(shared_eeg):
    for name in ("bdf/multiple_annotation_chans.bdf", "edf/test_edf_overlapping_annotations.edf"):  # 125 and 128 Hz
        recording = read_recording(shared_eeg / name)
        segment = next(segments_from_recording(recording, max_segments=1))
        high = float(segment.filters.split("HFF ")[1].split(" Hz")[0])
        assert high < recording.sfreq / 2 and f"Nyquist {recording.sfreq / 2:g} Hz" in segment.filters, segment.filters


def _peak(signal, sfreq, low=4.0, high=14.0):
    freqs, power = welch(signal, fs=sfreq, nperseg=int(4 * sfreq))
    band = (freqs >= low) & (freqs <= high)
    return freqs[band][np.argmax(power[band])]


def test_eegmat_rest_shows_posterior_alpha_near_10_5_hz(shared_eeg):
    recording = read_recording(shared_eeg / "eegmat" / "Subject00_1.edf")
    pages = list(segments_from_recording(recording, "as_recorded"))
    for channel in ("O1", "O2"):
        rows = [page.data[page.channels.index(channel)] for page in pages]
        assert 10.0 <= _peak(np.concatenate(rows), pages[0].sfreq) <= 11.0  # whole recording
        half_peak_to_peak = (rows[0].max() - rows[0].min()) / 2
        assert 45 <= half_peak_to_peak <= 62  # README: 47-60 uV in the first 10 s


def test_a_run_over_the_folder_reports_the_file_it_cannot_draw(shared_eeg, tmp_path):
    from cerebragloss.render import render_recordings

    report = render_recordings([shared_eeg / "eegmat", shared_eeg / "edf" / "test_utf8_annotations.edf"],
                               tmp_path, pages=1, progress=False)  # fmt: skip
    assert sum(report.pages.values()) == 2
    (problem,) = report.errors.values()
    assert problem.startswith("this file holds no EEG signal")


def test_shared_folder_location_is_configurable():
    assert SHARED_EEG.name == "eeg"
    with pytest.raises(RecordingError, match="does not exist"):
        read_recording(SHARED_EEG / "no_such_file.edf")
