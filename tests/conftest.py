"""Shared fixtures: local caches, the real recordings in ../shared/data/eeg, small EDF writers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from cerebragloss.runtime import project_root, use_local_caches

use_local_caches()

SHARED_EEG = Path(os.environ.get("CEREBRAGLOSS_SHARED_EEG", project_root().parent / "shared" / "data" / "eeg"))


@pytest.fixture(scope="session")
def shared_eeg() -> Path:
    """The real recordings of ../shared/data/eeg; tests that need them skip where it is absent."""
    if not SHARED_EEG.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_EEG} (set CEREBRAGLOSS_SHARED_EEG to their folder)")
    return SHARED_EEG


@pytest.fixture
def write_edf(tmp_path):
    """Write ``{channel name: microvolts}`` at ``sfreq`` as an EDF+ file in tmp_path."""
    from cerebragloss.signals.simulate import write_edf as write

    def make(channels: dict[str, np.ndarray], sfreq: float = 200.0, name: str = "rec_01.edf", annotations=()) -> Path:
        data = np.vstack([np.asarray(v, dtype=np.float64) for v in channels.values()])
        return write(tmp_path / name, data, sfreq, list(channels), annotations=annotations)

    return make


def sine(freq: float, seconds: float, sfreq: float = 200.0, amplitude: float = 50.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * sfreq))) / sfreq
    return amplitude * np.sin(2 * np.pi * freq * t + phase)


# Annotated simulated pages, shared by the synthesis and tool tests: the real engine and default
# detector over real simulated EDF files (built once per session, ~6 s).

@pytest.fixture(scope="session")
def annotated(tmp_path_factory):
    """An annotation folder (tools/annotate.py layout) of 4 simulated subjects x 1 min, with the
    default detector, so pages carry epileptiform and sleep findings, artifacts and clean pages."""
    from cerebragloss.detection.detector import DEFAULT_WEIGHTS
    from cerebragloss.engine.run import annotate_recordings
    from cerebragloss.signals.simulate import simulate_recordings

    root = tmp_path_factory.mktemp("annotated")
    recordings = simulate_recordings(root / "recordings", subjects=4, minutes=1.0, seed=5)
    annotate_recordings(recordings, root / "annotations", detector_weights=DEFAULT_WEIGHTS, progress=False)
    return root / "annotations"


@pytest.fixture(scope="session")
def annotations(annotated) -> list[dict]:
    return [json.loads(line) for line in (annotated / "annotations.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def undetected(tmp_path_factory, annotated) -> list[dict]:
    """The same pages annotated without a detector: nothing may be said about waveforms."""
    from cerebragloss.engine.run import annotate_recordings

    root = tmp_path_factory.mktemp("undetected")
    annotate_recordings([annotated.parent / "recordings"], root, progress=False)
    return [json.loads(line) for line in (root / "annotations.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def shard_root(tmp_path_factory, annotated) -> Path:
    """Shard sets in the layout the training configs read (``rules/<split>``, ``teacher/<split>``,
    ``general/llava``), small shards so that two workers each get their own."""
    from cerebragloss.demo import general_demo_data
    from cerebragloss.settings import load_settings
    from cerebragloss.synthesis.run import (
        AugmentSettings,
        SynthesisSettings,
        augment_with_teacher,
        convert_llava,
        synthesize_rules,
    )

    root = tmp_path_factory.mktemp("shards")
    split = ["split.val=0.25", "split.bench=0.25"]
    synthesize_rules(annotated, root / "rules", load_settings(SynthesisSettings, overrides=[*split, "samples_per_shard=4"]), progress=False)
    augment_with_teacher(annotated, root / "teacher", load_settings(AugmentSettings, overrides=[*split, "samples_per_shard=2"]), progress=False)
    llava_json, images = general_demo_data(tmp_path_factory.mktemp("general_source"), count=16)
    convert_llava(llava_json, images, root / "general" / "llava", samples_per_shard=4, progress=False)
    return root
