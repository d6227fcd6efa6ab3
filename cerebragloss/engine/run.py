"""The annotation run over an archive: parallel over recordings, resumable, shardable.

Layout of an output folder::

    DIR/pages/<page key>.png              every page, written through a temporary name
    DIR/parts/<recording>-<hash>.jsonl    one finished recording's annotations ...
    DIR/parts/<recording>-<hash>.json     ... and its summary, written last: the "done" mark
    DIR/annotations.jsonl                 every annotation of the run, written at the end
    DIR/summary.json                      every input accounted for, written at the end

A recording is finished when its part summary exists; a rerun skips it. A run killed midway
leaves parts of finished recordings and ``.partial`` files of the one in flight (overwritten by
the rerun); ``annotations.jsonl`` and ``summary.json`` are only written, through temporary names,
once every recording of the run is finished, so nothing looks complete that is not.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cerebragloss.detection.detector import DetectorSettings
from cerebragloss.engine.annotate import EngineSettings, annotate
from cerebragloss.engine.sleep import recording_contexts
from cerebragloss.settings import PageSettings


@dataclass
class AnnotateSettings:
    """Everything an annotation run depends on (``tools/annotate.py --config/--set``)."""

    montage: str = "auto"  #: or a montage name; auto: the best each recording allows (signals.choose_montage)
    page: PageSettings = field(default_factory=PageSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    detector: DetectorSettings = field(default_factory=DetectorSettings)


def shard_of(files: list[Path], num_shards: int, shard_index: int) -> list[Path]:
    """Every ``num_shards``-th file of the sorted list, starting at ``shard_index``: the same
    split on every node, covering every file exactly once over all shard indices."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard-index must be in 0..{num_shards - 1} for --num-shards {num_shards}, got {shard_index}")
    ordered = sorted(files, key=str)
    return ordered[shard_index::num_shards]


def part_name(path: Path) -> str:
    """``<stem>-<8 hex of the full path>``: two ``night1.edf`` in different folders do not collide."""
    return f"{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    temporary.replace(path)


# Per-process state of the workers: the detector is loaded once per process.
_WORKER: dict = {}


def _init_worker(weights: str | None, settings: AnnotateSettings, threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)
    _WORKER["settings"] = settings
    _WORKER["detector"] = None
    if weights:
        from cerebragloss.detection.detector import WaveformDetector

        _WORKER["detector"] = WaveformDetector(weights, settings.detector)


def _annotate_recording(job: tuple[str, str]) -> dict:
    """Annotate every page of one recording into its part files; returns its summary."""
    from cerebragloss.detection.detector import detect_recording
    from cerebragloss.render import render_segment
    from cerebragloss.signals import (
        MontageError,
        RecordingError,
        choose_montage,
        read_recording,
        segments_from_recording,
    )

    path, out_dir = Path(job[0]), Path(job[1])
    settings: AnnotateSettings = _WORKER["settings"]
    detector = _WORKER["detector"]
    name = part_name(path)
    try:
        recording = read_recording(path)
        montage = choose_montage(recording.electrodes, settings.montage)
        segments = list(segments_from_recording(
            recording, montage.name, filters=settings.page.filters, flag_settings=settings.page.flags
        ))  # fmt: skip
        if not segments:
            raise ValueError(f"{path}: shorter ({recording.duration_s:.1f} s) than one page")
        pages = [render_segment(s, settings.page.render) for s in segments]
    except (RecordingError, MontageError, ValueError, OSError) as error:
        return {"file": str(path), "status": "error", "error": str(error).split(f"{path}: ", 1)[-1]}
    events = [None] * len(pages)
    if detector is not None:
        events = detect_recording(detector, recording, segments, pages, filters=settings.page.filters,
                                  flag_settings=settings.page.flags, render_settings=settings.page.render)  # fmt: skip
    # Sleep transients and stages need the recording around each page (engine/sleep.py).
    contexts = recording_contexts(recording, segments, settings.engine.sleep)
    lines = []
    for page, found, context in zip(pages, events, contexts, strict=True):
        page.save(out_dir / "pages" / f"{page.segment.key}.png")
        lines.append(json.dumps(annotate(page.segment, page, found, settings.engine, context)))
    covered = len(pages) * segments[0].duration_s
    summary = {
        "file": str(path),
        "status": "done",
        "recording": recording.recording,
        "subject": recording.subject,
        "pages": len(pages),
        "montage": montage.name,
        "montage_reason": montage.reason,
        "skipped": (
            [{"start_s": covered, "end_s": round(recording.duration_s, 3), "reason": "shorter than a page"}]
            if recording.duration_s - covered > 1e-6 else []
        ),
        "detector": detector is not None,
        "notes": recording.describe(),
    }  # fmt: skip
    _write_atomic(out_dir / "parts" / f"{name}.jsonl", "".join(line + "\n" for line in lines))
    _write_atomic(out_dir / "parts" / f"{name}.json", json.dumps(summary))
    return summary


def _ignored_in_folders(inputs: list[str | Path]) -> dict[str, str]:
    """Files inside input folders that are not recordings, so the summary accounts for them."""
    from cerebragloss.signals.io import SUPPORTED_EXTENSIONS

    sidecars = {".vmrk", ".fdt", ".json", ".pnt", ".21e", ".log", ".txt", ".csv", ".tsv", ".md"}
    ignored = {}
    for item in inputs:
        if Path(item).is_dir():
            for path in sorted(Path(item).rglob("*")):
                suffix = path.suffix.lower()
                if path.is_file() and suffix not in SUPPORTED_EXTENSIONS and not path.name.endswith(".partial"):
                    why = "companion or notes file, not a recording" if suffix in sidecars else "not a recording format"
                    ignored[str(path.resolve())] = f"{why} ({suffix or 'no extension'})"
    return ignored


def annotate_recordings(
    inputs: list[str | Path],
    out_dir: str | Path,
    *,
    detector_weights: str | Path | None = None,
    workers: int = 1,
    num_shards: int = 1,
    shard_index: int = 0,
    settings: AnnotateSettings | None = None,
    progress: bool = True,
) -> dict:
    """Annotate every page of every input recording into ``out_dir`` (see the module docstring).

    Returns the summary that is written to ``summary.json``. With ``num_shards > 1`` the outputs
    are ``annotations-<i>-of-<k>.jsonl`` and ``summary-<i>-of-<k>.json`` so that the jobs of an
    array can share one folder.
    """
    import multiprocessing

    from tqdm.auto import tqdm

    from cerebragloss.settings import write_settings
    from cerebragloss.signals.io import expand_inputs

    settings = settings or AnnotateSettings()
    out_dir = Path(out_dir).resolve()
    (out_dir / "pages").mkdir(parents=True, exist_ok=True)
    (out_dir / "parts").mkdir(parents=True, exist_ok=True)
    write_settings(settings, out_dir / "annotate_settings.yaml")
    files, problems = expand_inputs(list(inputs))
    files = shard_of(files, num_shards, shard_index)
    results: dict[str, dict] = {}
    todo = []
    for path in files:
        done = out_dir / "parts" / f"{part_name(path)}.json"
        if done.exists():
            results[str(path)] = json.loads(done.read_text()) | {"resumed": True}
        else:
            todo.append((str(path), str(out_dir)))
    weights = str(detector_weights) if detector_weights else None
    bar = tqdm(total=len(files), initial=len(files) - len(todo), desc="annotate", unit="recording", disable=not progress)
    if workers <= 1:
        _init_worker(weights, settings, None)
        for job in todo:
            results[job[0]] = _annotate_recording(job)
            bar.update(1)
    else:
        # spawn, not fork: torch and ultralytics hold threads that a fork would copy mid-flight.
        context = multiprocessing.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // workers)
        with context.Pool(workers, initializer=_init_worker, initargs=(weights, settings, threads)) as pool:
            for summary in pool.imap_unordered(_annotate_recording, todo):
                results[summary["file"]] = summary
                bar.update(1)
    bar.close()

    suffix = "" if num_shards == 1 else f"-{shard_index:05d}-of-{num_shards:05d}"
    lines = []
    for path in files:
        part = out_dir / "parts" / f"{part_name(path)}.jsonl"
        if results[str(path)]["status"] == "done":
            lines.append(part.read_text())
    _write_atomic(out_dir / f"annotations{suffix}.jsonl", "".join(lines))
    summary = {
        "files": [results[str(p)] for p in files],
        "inputs_not_found": problems,
        "ignored": _ignored_in_folders(inputs),
        "pages": sum(r.get("pages", 0) for r in results.values()),
        "errors": sum(r["status"] == "error" for r in results.values()),
        "detector": weights,
        "shard": {"index": shard_index, "count": num_shards},
        "settings": asdict(settings),
    }
    _write_atomic(out_dir / f"summary{suffix}.json", json.dumps(summary, indent=1))
    return summary
