"""A CerebraGloss-Bench-style set from held-out subjects, and detection scoring on it.

``make_bench`` keeps only the subjects of the ``bench`` split (the same seeded subject split as
synthesis, so no bench subject was trained on) and writes, per page, a reference description,
complex MCQ and conversation (from the teacher, verified against the annotation), the rule MCQs,
and the page's channel-level boxes: from the simulator's truth when the recording has a truth
file beside it (``boxes_source: truth``), else the engine's cleaned detections
(``boxes_source: engine``). Output: one shard set + manifest + ``report.json``.

``detection_scores`` runs the waveform detector over the bench pages and scores its boxes against
the reference boxes (mAP@0.5 per class), for the test report.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.settings import annotation_page
from cerebragloss.shards import ShardSetWriter, SplitSettings, subject_split
from cerebragloss.synthesis.teacher import TeacherSettings


@dataclass
class BenchSettings:
    """``tools/make_bench.py`` (the split must equal the synthesis run's to hold out the same subjects)."""

    split: SplitSettings = field(default_factory=SplitSettings)
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    rule_mcq_per_page: int = 2
    samples_per_shard: int = 500


def reference_boxes(annotation: dict, truth_events: list[dict] | None) -> tuple[list[dict], str]:
    """The page's boxes (class, pixel box, channels, seconds) and where they come from."""
    if truth_events is not None:
        from cerebragloss.detection.truth import truth_boxes
        from cerebragloss.render import Layout

        layout = Layout.from_dict(annotation["layout"])
        boxes = truth_boxes(truth_events, layout, annotation["start_s"])
        return [{"class": b.label, "box": [round(v, 1) for v in b.box], "channels": list(b.channels), "start_s": b.start_s,
                 "end_s": b.end_s} for b in boxes], "truth"  # fmt: skip
    events = (annotation.get("findings") or {}).get("events") or []
    # a discharge boxed in two chains is one finding with its other boxes (cleaning): every box of it is a reference
    return [{"class": e["class"], "box": box, "channels": e["channels"], "start_s": e["start_s"], "end_s": e["end_s"]}
            for e in events if e.get("box") and not e.get("questioned") for box in [e["box"], *e.get("other_boxes", [])]], "engine"  # fmt: skip


def make_bench(annotations_dir: str | Path, out: str | Path, settings: BenchSettings | None = None, progress: bool = True) -> dict:
    from cerebragloss.synthesis.rules import RuleSettings, rule_samples
    from cerebragloss.synthesis.run import iter_annotations
    from cerebragloss.synthesis.teacher import (
        TEACHER_TASKS,
        ReplyCache,
        build_request,
        make_teacher,
        run_teacher,
        sample_from_reply,
    )
    from cerebragloss.synthesis.verify import verify_sample

    settings = settings or BenchSettings()
    annotations_dir, out = Path(annotations_dir), Path(out)
    split, teacher_settings = settings.split, settings.teacher
    annotations = list(iter_annotations(annotations_dir))
    splits = subject_split(annotations_dir, {a["subject"] for a in annotations}, split)
    held_out = [a for a in annotations if splits[a["subject"]] == "bench"]
    if not held_out:
        raise ValueError(f"{annotations_dir}: no subject falls in the bench split ({split}); use more subjects or a larger split.bench")
    files = {}
    summary = annotations_dir / "summary.json"
    if summary.exists():
        files = {f["recording"]: f["file"] for f in json.loads(summary.read_text())["files"] if f.get("status") == "done"}

    requests = {(a["key"], task): build_request(a, task) for a in held_out for task in TEACHER_TASKS}
    teacher = make_teacher(teacher_settings)
    replies, teacher_report = run_teacher(list(requests.values()), teacher, ReplyCache(out.parent / f"{out.name}_teacher_cache"), teacher_settings, progress)
    truths: dict[str, list | None] = {}
    rejected, written = {}, 0
    counts: dict[str, int] = {}
    with ShardSetWriter(out, name="bench", samples_per_shard=settings.samples_per_shard, generator="cerebragloss.evaluation.bench",
                        config=asdict(settings), page=annotation_page(annotations_dir)) as writer:  # fmt: skip
        for annotation in held_out:
            recording = annotation["recording"]
            if recording not in truths:
                from cerebragloss.signals.simulate import truth_path

                path = truth_path(files[recording]) if recording in files else None
                truths[recording] = json.loads(path.read_text())["events"] if path is not None and path.exists() else None
            boxes, source = reference_boxes(annotation, truths[recording])
            png = (annotations_dir / "pages" / annotation["page"]).read_bytes()
            samples = rule_samples(annotation, RuleSettings(captions_per_page=0, mcq_per_page=settings.rule_mcq_per_page, binary_per_page=0))
            for task in TEACHER_TASKS:
                request = requests[(annotation["key"], task)]
                record = replies.get(request.sample_id)
                if record is None:
                    continue
                sample = sample_from_reply(request, record["reply"], annotation, record["source"], record["teacher"])
                problems = verify_sample(sample)
                if problems:
                    rejected[sample["id"]] = problems
                    continue
                samples.append(sample)
            for sample in samples:
                sample["boxes"], sample["boxes_source"], sample["layout"] = boxes, source, annotation["layout"]
                writer.write(sample, png)
                counts[sample["task"]] = counts.get(sample["task"], 0) + 1
                written += 1
    report = {"pages": len(held_out), "subjects": sorted({a["subject"] for a in held_out}), "samples": written, "tasks": counts,
              "rejected": rejected, "teacher_failed": teacher_report.failed,
              "boxes_source": sorted({("truth" if truths.get(a["recording"]) is not None else "engine") for a in held_out})}  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report


def detection_scores(rows: list[dict], weights: str | Path | None = None) -> dict | None:
    """mAP@0.5 of the waveform detector on the benchmark pages that carry reference boxes (one
    entry per page); ``None`` when no row has boxes."""
    from PIL import Image

    from cerebragloss.detection.detector import DEFAULT_WEIGHTS, WaveformDetector
    from cerebragloss.evaluation.metrics import detection_map50
    from cerebragloss.render import Layout

    pages = {}
    for row in rows:
        if row.get("boxes") is not None and row.get("png") and row.get("layout"):
            pages.setdefault(row.get("page") or row["id"], row)
    if not pages:
        return None
    detector = WaveformDetector(weights or DEFAULT_WEIGHTS)
    images = [Image.open(io.BytesIO(r["png"])).convert("RGB") for r in pages.values()]
    found = detector.detect_images(images, [Layout.from_dict(r["layout"]) for r in pages.values()])
    predictions = [{"boxes": [e["box"] for e in events], "scores": [e["confidence"] for e in events], "labels": [e["class"] for e in events]}
                   for events in found]  # fmt: skip
    targets = [{"boxes": [b["box"] for b in r["boxes"]], "labels": [b["class"] for b in r["boxes"]]} for r in pages.values()]
    predicted = {key: events for key, events in zip(pages, found, strict=True)}
    return detection_map50(predictions, targets, list(WAVEFORM_CLASSES)) | {"pages": len(pages), "predicted": predicted}


def draw_reference_and_predicted(png: bytes, reference: list[dict], predicted: list[dict]):
    """The page with reference boxes (thick) and the detector's boxes (thin, with confidence)."""
    from PIL import Image

    from cerebragloss.detection.draw import draw_boxes

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = draw_boxes(image, [{"label": b["class"], "box": b["box"]} for b in reference], width=4)
    return draw_boxes(image, [{"label": e["class"], "box": e["box"], "confidence": e["confidence"]} for e in predicted], width=1)
