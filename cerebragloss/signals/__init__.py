"""The signal layer: read EEG files, name channels canonically, filter, build montages, cut pages."""

from cerebragloss.signals.channels import (
    TEN_TWENTY,
    ChannelInfo,
    canonical_electrode,
    classify_channel,
)
from cerebragloss.signals.filters import FilterSettings, filter_signals, prepare, resample
from cerebragloss.signals.io import (
    SUPPORTED_EXTENSIONS,
    Annotation,
    AuxChannel,
    Recording,
    RecordingError,
    read_recording,
)
from cerebragloss.signals.montage import (
    AUTO,
    MONTAGES,
    MontageChoice,
    MontageError,
    MontageResult,
    apply_montage,
    available_montages,
    canonical_montage,
    choose_montage,
)
from cerebragloss.signals.segments import (
    FlagSettings,
    Segment,
    SignalFlag,
    cut_segments,
    find_signal_problems,
    segments_from_recording,
)

__all__ = [
    "AUTO",
    "MONTAGES",
    "SUPPORTED_EXTENSIONS",
    "TEN_TWENTY",
    "Annotation",
    "AuxChannel",
    "ChannelInfo",
    "FilterSettings",
    "FlagSettings",
    "MontageChoice",
    "MontageError",
    "MontageResult",
    "Recording",
    "RecordingError",
    "Segment",
    "SignalFlag",
    "apply_montage",
    "available_montages",
    "canonical_electrode",
    "canonical_montage",
    "choose_montage",
    "classify_channel",
    "cut_segments",
    "filter_signals",
    "find_signal_problems",
    "prepare",
    "read_recording",
    "resample",
    "segments_from_recording",
]
