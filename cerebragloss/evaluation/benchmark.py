"""Benchmark scores from generated answers, and the report in the paper's table layout.

Rows are what ``cerebragloss test`` generated: ``{"id", "task", "prediction", "reference",
"question", "options", "answer"}``. Multiple-choice tasks are parsed and scored by accuracy,
descriptions (and rule captions) by ROUGE-1 against the reference, conversation answers by the
LLM judge (1-10) when one is configured; binary questions by accuracy of the yes/no answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cerebragloss.evaluation.metrics import balanced_accuracy, mcq_accuracy, rouge1

CHOICE_TASKS = ("mcq", "complex_mcq")
TEXT_TASKS = ("description", "caption")


def _yes_no(text: str) -> str | None:
    match = re.match(r"^\W*(yes|no)\b", text.strip(), re.IGNORECASE)
    return match.group(1).lower() if match else None


def question_of(sample: dict) -> str:
    """The last user turn (without the image placeholder): what the answer answers."""
    users = [m["content"] for m in sample["messages"] if m["role"] == "user"]
    return users[-1].replace("<image>\n", "").strip() if users else ""


def score_generations(rows: list[dict], judge_settings=None, cache_dir: str | Path | None = None, progress: bool = False) -> dict:
    """Scores per task family (see the module docstring); ``None`` where a task has no rows or no judge."""
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    scores: dict[str, object] = {"samples": {task: len(r) for task, r in sorted(by_task.items())}}
    for task in CHOICE_TASKS:
        task_rows = by_task.get(task, [])
        if task_rows:
            score = mcq_accuracy([r["prediction"] for r in task_rows], [r["answer"] for r in task_rows], [r["options"] for r in task_rows])
            scores[f"{task}_accuracy"] = score.accuracy
            scores[f"{task}_parsed"] = score.parsed
    binary = by_task.get("binary", [])
    if binary:
        scores["binary_accuracy"] = sum(_yes_no(r["prediction"]) == r["answer"] for r in binary) / len(binary)
    for task in TEXT_TASKS:
        task_rows = by_task.get(task, [])
        if task_rows:
            scores[f"{task}_rouge1"] = rouge1([r["prediction"] for r in task_rows], [r["reference"] for r in task_rows])
    for task in ("tusz", "hmc"):
        task_rows = by_task.get(task, [])
        if task_rows:
            from cerebragloss.evaluation.clinical import HMC_STAGES, TUSZ_CLASSES
            from cerebragloss.evaluation.metrics import LETTERS, parse_choice

            classes = list(TUSZ_CLASSES if task == "tusz" else HMC_STAGES)
            chosen = [parse_choice(r["prediction"], r["options"]) for r in task_rows]
            predicted = [classes[LETTERS.index(c)] if c else None for c in chosen]
            result = balanced_accuracy(predicted, [r["label"] for r in task_rows], classes)
            scores[f"{task}_balanced_accuracy"] = result["balanced_accuracy"]
            scores[f"{task}_recall"] = result["recall"]
    conversation = by_task.get("conversation", [])
    scores["judge"] = None
    if conversation and judge_settings is not None:
        from cerebragloss.evaluation.judge import judge_answers

        items = [{"id": r["id"], "question": r["question"], "reference": r["reference"], "answer": r["prediction"]} for r in conversation]
        result = judge_answers(items, judge_settings, cache_dir or Path(".cache") / "judge", progress=progress)
        scores["judge"] = {k: result[k] for k in ("mean", "distribution", "scored", "failed", "rubric", "judge")}
    return scores


def _cell(value, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}" if percent else f"{value:.2f}"


def write_report(path: str | Path, scores: dict, rows: list[dict], title: str = "CerebraGloss-Bench", examples: int = 3,
                 detection: dict | None = None, clinical: dict | None = None) -> Path:  # fmt: skip
    """Markdown: the paper's table (MCQ, complex MCQ, description ROUGE-1, QA judge, detection
    mAP@0.5, TUSZ and HMC balanced accuracy), counts, then a few pages with the generated text
    next to the reference. ``rows.jsonl`` beside it keeps every generation."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    judge = scores.get("judge") or {}
    clinical = clinical or {task: scores.get(f"{task}_balanced_accuracy") for task in ("tusz", "hmc")}
    lines = [f"# {title}", "",
             "| MCQ acc. (%) | complex MCQ acc. (%) | binary acc. (%) | description ROUGE-1 (%) | QA judge (1-10) | detection mAP@0.5 (%) | TUSZ BA (%) | HMC BA (%) |",
             "|---|---|---|---|---|---|---|---|",
             f"| {_cell(scores.get('mcq_accuracy'))} | {_cell(scores.get('complex_mcq_accuracy'))} | {_cell(scores.get('binary_accuracy'))} "
             f"| {_cell(scores.get('description_rouge1'))} | {_cell(judge.get('mean'), percent=False)} "
             f"| {_cell((detection or {}).get('map50'))} | {_cell(clinical.get('tusz'))} | {_cell(clinical.get('hmc'))} |", ""]  # fmt: skip
    lines.append("Samples per task: " + ", ".join(f"{task} {count}" for task, count in scores["samples"].items()) + ".")
    if scores.get("caption_rouge1") is not None:
        lines.append(f"Rule caption ROUGE-1: {_cell(scores['caption_rouge1'])} %.")
    for task in ("mcq", "complex_mcq"):
        if scores.get(f"{task}_parsed") is not None:
            lines.append(f"{task}: an option could be read from {_cell(scores[f'{task}_parsed'])} % of the answers (unread answers count as wrong).")
    if not judge:
        lines.append("QA judge: not scored (no judge configured: set model.init_args.judge, e.g. Gemini with GEMINI_API_KEY).")
    else:
        lines.append(f"QA judge ({judge['judge']}, rubric {judge['rubric']}): {judge['scored']} scored, {len(judge['failed'])} failed; "
                     "distribution " + ", ".join(f"{k}: {v}" for k, v in judge["distribution"].items() if v) + ".")  # fmt: skip
    for task in ("tusz", "hmc"):
        if scores.get(f"{task}_recall"):
            lines.append(f"{task.upper()} recall per class: " + ", ".join(f"{k} {100 * v:.1f}" for k, v in scores[f"{task}_recall"].items()) + ".")
    if detection:
        lines.append(f"Detection on {detection.get('pages', '?')} pages, AP@0.5 per class: " + ", ".join(f"{k} {100 * v:.1f}" for k, v in detection["ap50"].items()) + ".")
    lines += ["", "## Examples", "", "Pages with reference boxes show them thick and the detector's boxes thin (with confidence).", ""]
    for row in rows[:examples]:
        if row.get("page_file"):
            lines.append(f"![{row['id']}]({row['page_file']})")
        lines += [f"**{row['id']}** ({row['task']})", "", f"- question: {row['question']}", f"- generated: {row['prediction']}",
                  f"- reference: {row['reference']}", ""]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    (path.parent / "rows.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "png"}, ensure_ascii=False) + "\n" for r in rows))
    return path
