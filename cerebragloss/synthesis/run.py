"""Synthesis runs: an annotation folder (``tools/annotate.py``) in, shard sets out.

``synthesize_rules``      rule captions, MCQs and binary QA    -> OUT/<split>/ (shard sets)
``augment_with_teacher``  teacher descriptions, complex MCQs and conversations (1:1:1), verified
                          -> OUT/<split>/, OUT/rejects.jsonl, OUT/teacher_cache/ (resumable)
``convert_llava``         general image-text data (LLaVA JSON) -> OUT/ (one shard set, task general)

Splits (train/val/bench) are by subject, computed once per annotation run and recorded beside it
(``shards.subject_split``: ``subject_split.json``), so the rule, teacher and bench shards of one
subject land on the same side. Every page is accounted for in ``report.json``.
"""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cerebragloss.settings import annotation_page
from cerebragloss.shards import (  # noqa: F401 - SplitSettings is imported from here too
    SPLITS,
    ShardSetWriter,
    SplitSettings,
    check_shard_set,
    subject_split,
    write_shard_set,
)
from cerebragloss.synthesis.rules import RuleSettings, page_rng, rule_samples
from cerebragloss.synthesis.teacher import (
    TEACHER_TASKS,
    ReplyCache,
    TeacherSettings,
    build_request,
    make_teacher,
    run_teacher,
    sample_from_reply,
)
from cerebragloss.synthesis.verify import verify_sample


@dataclass
class SynthesisSettings:
    """``tools/synthesize.py`` (rule samples)."""

    rules: RuleSettings = field(default_factory=RuleSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    samples_per_shard: int = 1000
    #: seed of the training shards' sample order (null: the order synthesized, a page's samples
    #: together and subjects one after another, which a stream cannot mix within a batch)
    shuffle_seed: int | None = 0


@dataclass
class AugmentSettings:
    """``tools/augment_llm.py`` (teacher samples)."""

    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    samples_per_shard: int = 1000
    #: seed of which page gets which of the three tasks
    seed: int = 0
    #: how many of the three tasks each page gets (1-3; 1, the default: one each, in turn, so a
    #: teacher's calls stay one per page). ``make learn`` asks all three of the offline teacher,
    #: for three times the complex MCQs to train and test on
    tasks_per_page: int = 1
    #: seed of the training shards' sample order (null: the order written; see SynthesisSettings)
    shuffle_seed: int | None = 0


def annotation_files(annotations_dir: str | Path) -> list[Path]:
    directory = Path(annotations_dir)
    files = sorted(directory.glob("annotations*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{directory}: no annotations*.jsonl (run tools/annotate.py INPUT --out {directory} first)")
    return files


def iter_annotations(annotations_dir: str | Path) -> Iterator[dict]:
    """Every SegmentAnnotation of an annotation run folder (all ``annotations*.jsonl``), one at a
    time: an archive's annotations need not fit in memory."""
    for path in annotation_files(annotations_dir):
        with path.open() as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None


def load_annotations(annotations_dir: str | Path) -> list[dict]:
    return list(iter_annotations(annotations_dir))


def _page_bytes(annotations_dir: Path, annotation: dict) -> bytes | None:
    page = annotation.get("page")
    path = annotations_dir / "pages" / page if page else None
    return path.read_bytes() if path is not None and path.exists() else None


class SplitWriters:
    """One shard set per split under ``out``, opened on a split's first sample; samples stream
    straight to disk (an archive's samples never sit in memory together). ``close()`` writes
    each manifest and checks it against its tars."""

    def __init__(self, out: Path, name: str, generator: str, config: dict, samples_per_shard: int, page: dict | None = None,
                 shuffle_seed: int | None = None):  # fmt: skip
        self.out, self.name, self.generator, self.config, self.samples_per_shard = out, name, generator, config, samples_per_shard
        self.page = page
        self.shuffle_seed = shuffle_seed  # for the training split; evaluation sets keep the order written
        self.writers: dict[str, ShardSetWriter] = {}

    def write(self, split: str, sample: dict, png: bytes) -> None:
        if split not in self.writers:
            self.writers[split] = ShardSetWriter(self.out / split, name=self.name, samples_per_shard=self.samples_per_shard,
                                                 generator=self.generator, config=self.config | {"split": split}, page=self.page,
                                                 shuffle_seed=self.shuffle_seed if split == "train" else None)  # fmt: skip
        self.writers[split].write(sample, png)

    def close(self) -> dict[str, dict]:
        manifests = {}
        for split in SPLITS:
            if split in self.writers:
                manifests[split] = self.writers[split].close()
                problems = check_shard_set(self.out / split)
                if problems:
                    raise RuntimeError(f"{self.out / split}: shards disagree with their manifest: {'; '.join(problems)}")
        return manifests

    def __enter__(self) -> SplitWriters:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            for writer in self.writers.values():
                writer.abort()


def _write_report(out: Path, report: dict) -> None:
    temporary = out / "report.json.partial"
    temporary.write_text(json.dumps(report, indent=1))
    temporary.replace(out / "report.json")


def synthesize_rules(annotations_dir: str | Path, out: str | Path, settings: SynthesisSettings | None = None,
                     progress: bool = True) -> dict:  # fmt: skip
    """Rule samples of every annotated page into per-split shard sets; returns the report."""
    from tqdm.auto import tqdm

    settings = settings or SynthesisSettings()
    annotations_dir, out = Path(annotations_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # Two passes over the annotations: the subjects decide the split before any sample is written.
    subjects = Counter(a["subject"] for a in iter_annotations(annotations_dir))
    splits = subject_split(annotations_dir, subjects, settings.split)
    skipped: dict[str, str] = {}
    config = asdict(settings)
    page = annotation_page(annotations_dir)
    with SplitWriters(out, "rules", "cerebragloss.synthesis.rules", config, settings.samples_per_shard, page,
                      settings.shuffle_seed) as writers:
        pages = sum(subjects.values())
        for annotation in tqdm(iter_annotations(annotations_dir), total=pages, desc="rules", unit="page", disable=not progress):
            png = _page_bytes(annotations_dir, annotation)
            if png is None:
                skipped[annotation["key"]] = f"page image {annotation.get('page')} not found in {annotations_dir / 'pages'}"
                continue
            for sample in rule_samples(annotation, settings.rules):
                writers.write(splits[annotation["subject"]], sample, png)
        manifests = writers.close()
    report = {
        "pages": pages, "pages_skipped": skipped, "subjects": splits,
        "samples": {split: m["samples"] for split, m in manifests.items()},
        "tasks": dict(sum((Counter(m["tasks"]) for m in manifests.values()), Counter())),
        "seconds": round(time.perf_counter() - started, 2), "settings": config,
    }  # fmt: skip
    _write_report(out, report)
    return report


def teacher_plan(annotations: list[dict], seed: int, limit: int | None = None, splits: dict[str, str] | None = None,
                 tasks_per_page: int = 1) -> list[tuple[dict, str]]:  # fmt: skip
    """(annotation, task) pairs: ``limit`` pages in a seeded order, ``tasks_per_page`` tasks each,
    in turn within each split (``splits``: subject -> split), each split starting at a different
    task, so that descriptions, complex MCQs and conversations stay 1:1:1 in every split and
    overall (within one per split) for any ``limit``."""
    if not 1 <= tasks_per_page <= len(TEACHER_TASKS):
        raise ValueError(f"tasks_per_page must be 1 to {len(TEACHER_TASKS)}, got {tasks_per_page}")
    ordered = sorted(annotations, key=lambda a: a["key"])
    chosen = [ordered[i] for i in page_rng("plan", seed).permutation(len(ordered))][:limit]
    turns: Counter = Counter()
    plan = []
    for annotation in chosen:
        split = splits[annotation["subject"]] if splits else "all"
        start = SPLITS.index(split) if split in SPLITS else 0
        for _ in range(tasks_per_page):
            plan.append((annotation, TEACHER_TASKS[(start + turns[split]) % len(TEACHER_TASKS)]))
            turns[split] += 1
    return plan


def augment_with_teacher(annotations_dir: str | Path, out: str | Path, settings: AugmentSettings | None = None,
                         limit: int | None = None, cache_dir: str | Path | None = None, progress: bool = True) -> dict:  # fmt: skip
    """Teacher samples for ``limit`` pages (all by default), verified, into per-split shard sets."""
    settings = settings or AugmentSettings()
    annotations_dir, out = Path(annotations_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    annotations = load_annotations(annotations_dir)
    splits = subject_split(annotations_dir, [a["subject"] for a in annotations], settings.split)
    plan = teacher_plan(annotations, settings.seed, limit, splits, settings.tasks_per_page)
    skipped, requests, by_id = {}, [], {}
    for annotation, task in plan:
        if not (annotations_dir / "pages" / str(annotation.get("page"))).exists():
            skipped[f"{annotation['key']}-{task}"] = f"page image {annotation.get('page')} not found"
            continue
        request = build_request(annotation, task)
        requests.append(request)
        by_id[request.sample_id] = (request, annotation)
    teacher = make_teacher(settings.teacher)
    cache = ReplyCache(cache_dir or out / "teacher_cache")
    replies, teacher_report = run_teacher(requests, teacher, cache, settings.teacher, progress=progress)

    rejects = []
    config = asdict(settings)
    generator = f"cerebragloss.synthesis.teacher ({teacher.name})"
    with SplitWriters(out, "teacher", generator, config, settings.samples_per_shard, annotation_page(annotations_dir),
                      settings.shuffle_seed) as writers:
        for request in requests:
            record = replies.get(request.sample_id)
            if record is None:
                continue  # failed: in teacher_report.failed, asked again by a rerun
            _, annotation = by_id[request.sample_id]
            try:
                sample = sample_from_reply(request, record["reply"], annotation, record["source"], record["teacher"])
                problems = verify_sample(sample, annotation)
            except (KeyError, TypeError, ValueError) as error:
                sample, problems = None, [f"reply unusable: {type(error).__name__}: {error}"]
            if problems:
                rejects.append({"id": request.sample_id, "task": request.task, "reasons": problems, "reply": record["reply"]})
                continue
            writers.write(splits[annotation["subject"]], sample, _page_bytes(annotations_dir, annotation))
        manifests = writers.close()
    (out / "rejects.jsonl.partial").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects))
    (out / "rejects.jsonl.partial").replace(out / "rejects.jsonl")
    accepted = sum(m["samples"] for m in manifests.values())
    reasons = Counter(reason.split(" (")[0] for r in rejects for reason in r["reasons"])
    report = {
        "requested": len(plan), "pages_skipped": skipped, "accepted": accepted, "rejected": len(rejects),
        "failed": teacher_report.failed,
        "rejection_rate": round(len(rejects) / max(1, accepted + len(rejects)), 4),
        "rejection_reasons": dict(reasons.most_common()),
        "samples": {split: m["samples"] for split, m in manifests.items()},
        "tasks": dict(sum((Counter(m["tasks"]) for m in manifests.values()), Counter())),
        "teacher": asdict(teacher_report) | {"name": teacher.name, "source": teacher.source},
        "seconds": round(time.perf_counter() - started, 2), "settings": config,
    }  # fmt: skip
    _write_report(out, report)
    report["teacher_table"] = teacher_report.table()
    return report


def convert_llava(llava_json: str | Path, image_dir: str | Path, out: str | Path, samples_per_shard: int = 1000,
                  limit: int | None = None, progress: bool = True) -> dict:  # fmt: skip
    """LLaVA-style records (``{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]}``)
    into one shard set of ``general`` Samples; images are stored as PNG. Records with a missing or
    unreadable image or a malformed conversation are skipped with the reason."""
    from PIL import Image, UnidentifiedImageError
    from tqdm.auto import tqdm

    from cerebragloss.synthesis.samples import IMAGE_PLACEHOLDER, make_sample

    image_dir, out = Path(image_dir), Path(out)
    records = json.loads(Path(llava_json).read_text())
    if limit is not None:
        records = records[:limit]
    skipped: dict[str, str] = {}

    def items():
        for number, record in enumerate(tqdm(records, desc="llava", unit="record", disable=not progress)):
            name = str(record.get("id", number))
            turns = record.get("conversations") or []
            roles = [t.get("from") for t in turns]
            if not turns or len(turns) % 2 or roles != ["human", "gpt"] * (len(turns) // 2):
                skipped[name] = "conversation is not human/gpt turns in pairs"
                continue
            if not record.get("image"):
                skipped[name] = "no image"
                continue
            try:
                with Image.open(image_dir / record["image"]) as image:
                    buffer = io.BytesIO()
                    image.convert("RGB").save(buffer, format="PNG")
            except (FileNotFoundError, UnidentifiedImageError, OSError) as error:
                skipped[name] = f"image {record['image']}: {type(error).__name__}"
                continue
            messages = [{"role": "user" if t["from"] == "human" else "assistant", "content": str(t["value"]).strip()} for t in turns]
            first = messages[0]["content"].replace(IMAGE_PLACEHOLDER, "").strip()
            messages[0]["content"] = f"{IMAGE_PLACEHOLDER}\n{first}"
            for message in messages[1:]:
                message["content"] = message["content"].replace(IMAGE_PLACEHOLDER, "").strip()
            try:
                sample = make_sample(id=f"llava-{name}", task="general", source="general", messages=messages,
                                     subject=f"llava-{name}", recording=str(record["image"]), annotation=None)  # fmt: skip
            except ValueError as error:
                skipped[name] = str(error).split(": ", 1)[-1]
                continue
            yield sample, buffer.getvalue()

    manifest = write_shard_set(items(), out, name="general", samples_per_shard=samples_per_shard,
                               generator="cerebragloss.synthesis.run.convert_llava", config={"source": str(Path(llava_json).name)})  # fmt: skip
    report = {"records": len(records), "samples": manifest["samples"], "skipped": skipped}
    _write_report(out, report)
    return report
