"""The main job on built-in defaults: what ``make demo`` runs.

Today it covers the foundation, the detector, the engine and synthesis: simulate recordings
(with truth files), read them back through the EDF reader (TUH-style channel names), render pages
in every montage, annotate the double-banana pages (background, artifacts, the default waveform
detector, cleaning), score the detector's events against the simulator's truth, then write rule
samples and offline-teacher samples (verified) into webdataset shards split by subject. Later
stages (training, evaluation) extend this function.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from cerebragloss.engine.run import annotate_recordings
from cerebragloss.render import render_recordings
from cerebragloss.settings import PageSettings
from cerebragloss.signals.simulate import simulate_recordings


def score_detections(annotations_file: Path) -> dict:
    """Event-level scores of the detector events in an annotation run against the simulator's
    truth files beside the recordings."""
    from cerebragloss.detection.evaluate import score_events
    from cerebragloss.detection.truth import truth_boxes
    from cerebragloss.render import Layout
    from cerebragloss.signals.simulate import load_truth

    truth_pages, found_pages, truths = [], [], {}
    summary = json.loads((annotations_file.parent / "summary.json").read_text())
    files = {item["recording"]: item["file"] for item in summary["files"] if item["status"] == "done"}
    for line in annotations_file.read_text().splitlines():
        annotation = json.loads(line)
        if annotation["recording"] not in truths:
            truths[annotation["recording"]] = load_truth(files[annotation["recording"]])["events"]
        layout = Layout.from_dict(annotation["layout"])
        boxes = truth_boxes(truths[annotation["recording"]], layout, annotation["start_s"])
        truth_pages.append([{"class": b.label, "start_s": b.start_s, "end_s": b.end_s} for b in boxes])
        found_pages.append(annotation["events"])
    return score_events(truth_pages, found_pages)


def run_demo(out_dir: str | Path = "demo_output", subjects: int = 3, minutes: float = 1.0, seed: int = 0,
             train_samples: int | None = 64) -> dict:  # fmt: skip
    """The whole pipeline; ``train_samples`` is the epoch length of the tiny training runs
    (``None`` skips training)."""
    from cerebragloss.detection.detector import DEFAULT_WEIGHTS

    out_dir = Path(out_dir)
    print(f"[1/7] simulating {subjects} recordings x {minutes:g} min (events, artifacts, sleep stages) -> {out_dir / 'recordings'}")
    recordings = simulate_recordings(out_dir / "recordings", subjects=subjects, minutes=minutes, seed=seed)

    print(f"[2/7] rendering pages in every montage -> {out_dir / 'pages'}")
    settings = PageSettings()
    started = time.perf_counter()
    report = render_recordings(recordings, out_dir / "pages", montage="all", settings=settings, progress=False)
    elapsed = time.perf_counter() - started

    total = sum(report.pages.values())
    print()
    print(f"{'recording':<14} {'pages':>6}  details")
    for path, count in report.pages.items():
        print(f"{Path(path).stem:<14} {count:>6}  {report.notes[path][0]}")
    for path, problem in report.errors.items():
        print(f"{Path(path).stem:<14} {'error':>6}  {problem}")
    print()
    print(
        f"{total} pages of {settings.render.width}x{settings.render.height} px "
        f"({settings.render.visual_tokens} Qwen2.5-VL visual tokens each) "
        f"in {elapsed:.1f} s, including reading and filtering"
    )
    montage_dirs = sorted(p.name for p in (out_dir / "pages").iterdir() if p.is_dir())
    print(f"montages: {', '.join(montage_dirs)}; page metadata in {out_dir / 'pages' / '<montage>' / 'pages.jsonl'}")
    example = next((out_dir / "pages" / "longitudinal_bipolar").glob("*.png"), None)
    if example:
        print(f"look at one: {example}")

    print(f"\n[3/7] annotating the double-banana pages (background, artifacts, {DEFAULT_WEIGHTS.name}, cleaning) -> {out_dir / 'annotations'}")
    summary = annotate_recordings(recordings, out_dir / "annotations", detector_weights=DEFAULT_WEIGHTS, progress=False)
    annotations_file = out_dir / "annotations" / "annotations.jsonl"
    first = json.loads(annotations_file.read_text().splitlines()[0])
    print(f"{summary['pages']} SegmentAnnotations; first page: {first['background']['summary']}")
    scores = score_detections(annotations_file)
    print("detector events against the truth (event level, time IoU >= 0.2):")
    print(f"{'class':<22} {'truth':>6} {'found':>6} {'F1':>6}")
    for label, score in scores.items():
        print(f"{label:<22} {score.true_positives + score.false_negatives:>6} {score.true_positives + score.false_positives:>6} {score.f1:>6.2f}")
    print(f"annotations: {annotations_file}; per-file summary: {out_dir / 'annotations' / 'summary.json'}")

    print(f"\n[4/7] synthesizing instruction data -> {out_dir / 'shards'}")
    shards = synthesize_demo_shards(out_dir / "annotations", out_dir / "shards")
    result = {"pages": total, "errors": report.errors, "seconds": elapsed, "annotated": summary["pages"], "detection": scores,
              "shards": shards}  # fmt: skip
    if train_samples:
        result["training"] = train_demo_model(out_dir, train_samples)
    return result


def train_demo_model(out_dir: Path, samples: int) -> dict:
    """Stage 1, stage 2 and a test pass on the tiny preset through the ``cerebragloss`` CLI, with
    the configs a real run uses (conf/stage1.yaml, conf/stage2.yaml, conf/test.yaml) under the
    CPU overlay, then ``report.md``."""
    from cerebragloss.cli import build_cli
    from cerebragloss.runtime import project_root

    conf = project_root() / "conf"
    runs = out_dir / "outputs"
    common = ["--config", str(conf / "tiny.yaml"), f"--data.init_args.root={out_dir / 'shards'}",
              f"--data.init_args.samples_per_epoch={samples}", "--trainer.enable_progress_bar=false"]  # fmt: skip
    results = {}
    steps = (
        ("stage1", "fit", "stage1.yaml", []),
        ("stage2", "fit", "stage2.yaml", [f"--model.init_args.init_from={runs / 'stage1' / 'hf'}"]),
        ("test", "test", "test.yaml", [f"--model.init_args.init_from={runs / 'stage2' / 'hf'}"]),
    )
    for number, (name, command, config, extra) in enumerate(steps, 5):
        print(f"\n[{number}/7] cerebragloss {command} --config conf/{config} --config conf/tiny.yaml (tiny Qwen2.5-VL on CPU) -> {runs / name}")
        started = time.perf_counter()
        cli = build_cli([command, "--config", str(conf / config), *common, f"--trainer.default_root_dir={runs / name}", *extra])
        metrics = {k: round(float(v), 4) for k, v in cli.trainer.callback_metrics.items()}
        results[name] = {"seconds": round(time.perf_counter() - started, 1), "steps": cli.trainer.global_step, "metrics": metrics,
                         "trainable": getattr(cli.model, "trainable_counts", {})}  # fmt: skip
        print(f"{name}: {results[name]['steps']} optimizer steps in {results[name]['seconds']} s; " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
        if getattr(cli.model, "report_path", None):
            results[name]["report"] = str(cli.model.report_path)
            print(f"benchmark report (generated answers next to references): {cli.model.report_path}")
    report = demo_report(out_dir, results)
    print(f"\nreport: {report}; stage-2 checkpoint (Hugging Face format): {runs / 'stage2' / 'hf'}")
    return results


def demo_report(out_dir: Path, results: dict) -> Path:
    lines = ["# CerebraGloss demo report", "", "Tiny random-weight Qwen2.5-VL on CPU: the losses show the pipeline runs, not a trained model.", "",
             "| run | optimizer steps | trainable parameters | seconds | metrics |", "|---|---|---|---|---|"]  # fmt: skip
    for name, run in results.items():
        trainable = ", ".join(f"{k} {v:,}" for k, v in run["trainable"].items()) or "-"
        metrics = ", ".join(f"{k} {v}" for k, v in run["metrics"].items())
        lines.append(f"| {name} | {run['steps']} | {trainable} | {run['seconds']} | {metrics} |")
    lines += ["", f"- shards: `{out_dir / 'shards'}` (manifest.json per split)",
              f"- stage 1 export: `{out_dir / 'outputs' / 'stage1' / 'hf'}`; stage 2 export: `{out_dir / 'outputs' / 'stage2' / 'hf'}`",
              f"- logs and generated samples: `{out_dir / 'outputs'}/<run>/lightning_logs/version_*/`",
              f"- benchmark report of the test pass: `{results.get('test', {}).get('report', '-')}`"]  # fmt: skip
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def general_demo_data(out_dir: Path, count: int = 24, seed: int = 0) -> tuple[Path, Path]:
    """A small LLaVA-format set (shapes on plain backgrounds, captioned) standing in for the
    general data (LLaVA-558k) the paper mixes in; it goes through ``convert_llava`` like the real one."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    colours = {"red": (200, 30, 30), "green": (30, 160, 60), "blue": (40, 60, 200), "orange": (240, 140, 20)}
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for index in range(count):
        colour, shape = list(colours)[int(rng.integers(4))], ["circle", "square"][int(rng.integers(2))]
        image = Image.new("RGB", (336, 224), "white")
        x, y, r = int(rng.integers(60, 276)), int(rng.integers(50, 174)), int(rng.integers(20, 45))
        (ImageDraw.Draw(image).ellipse if shape == "circle" else ImageDraw.Draw(image).rectangle)((x - r, y - r, x + r, y + r), fill=colours[colour])
        image.save(images / f"{index:04d}.png")
        records.append({"id": f"{index:04d}", "image": f"{index:04d}.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is shown in this picture?"},
            {"from": "gpt", "value": f"A {colour} {shape} on a white background, {'left of' if x < 168 else 'right of'} the centre."}]})  # fmt: skip
    (out_dir / "llava.json").write_text(json.dumps(records))
    return out_dir / "llava.json", images


def synthesize_demo_shards(annotations_dir: Path, out_dir: Path) -> dict:
    """Rule samples and offline-teacher samples of every page, each a shard set per split, and a
    small general set."""
    from cerebragloss.synthesis.run import augment_with_teacher, convert_llava, synthesize_rules

    rules = synthesize_rules(annotations_dir, out_dir / "rules", progress=False)
    teacher = augment_with_teacher(annotations_dir, out_dir / "teacher", progress=False)
    from cerebragloss.evaluation.bench import make_bench

    bench = make_bench(annotations_dir, out_dir / "bench", progress=False)
    llava_json, images = general_demo_data(out_dir.parent / "general_source")
    general = convert_llava(llava_json, images, out_dir / "general" / "llava", progress=False)
    print(f"{'shard set':<10} {'split':<6} {'samples':>8}  tasks")
    for name, report in (("rules", rules), ("teacher", teacher)):
        for split in report["samples"]:
            manifest = json.loads((out_dir / name / split / "manifest.json").read_text())
            tasks = ", ".join(f"{task} {count}" for task, count in manifest["tasks"].items())
            print(f"{name:<10} {split:<6} {manifest['samples']:>8}  {tasks}")
    print(f"{'general':<10} {'llava':<6} {general['samples']:>8}  general (demo shapes standing in for LLaVA-558k)")
    print(f"{'bench':<10} {'bench':<6} {bench['samples']:>8}  " + ", ".join(f"{t} {c}" for t, c in sorted(bench["tasks"].items()))
          + f" (held-out subjects {', '.join(bench['subjects'])}; boxes from {'/'.join(bench['boxes_source'])})")  # fmt: skip
    print(f"teacher: offline (no key needed; samples labelled source 'offline'), rejected by verification: {teacher['rejected']}")
    example = next(iter(sorted((out_dir / "rules" / "train").glob("*.tar"))), None)
    print(f"shards and manifest.json in {out_dir}/<rules|teacher>/<split>/; e.g. tar tf {example}")
    return {"rules": rules["samples"], "teacher": teacher["samples"], "rejected": teacher["rejected"], "general": general["samples"],
            "bench": bench["samples"]}  # fmt: skip
