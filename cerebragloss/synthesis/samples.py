"""The Sample (DESIGN.md): one training example, the JSON half of a shard entry.

``source`` says who wrote the text: ``rule`` (templates over the annotation), ``llm`` (a real
teacher model), ``offline`` (the deterministic template teacher that stands in for the LLM when no
key is set: labelled so that nobody mistakes it for LLM data) or ``general`` (converted general
data such as LLaVA).
"""

from __future__ import annotations

IMAGE_PLACEHOLDER = "<image>"
TASKS: tuple[str, ...] = ("caption", "mcq", "binary", "description", "complex_mcq", "conversation", "general")
SOURCES: tuple[str, ...] = ("rule", "llm", "offline", "general")
LETTERS = "ABCD"


def make_sample(*, id: str, task: str, source: str, messages: list[dict], subject: str, recording: str,
                annotation: dict | None, answer: str | None = None, options: list[str] | None = None,
                page: str | None = None, **extra) -> dict:  # fmt: skip
    """A Sample, checked (``ValueError`` names what is wrong)."""
    sample = {"id": id, "task": task, "source": source, "messages": messages, "subject": subject, "recording": recording}
    if answer is not None:
        sample["answer"] = answer
    if options is not None:
        sample["options"] = options
    if page is not None:
        sample["page"] = page
    sample.update(extra)
    sample["annotation"] = annotation
    problems = sample_problems(sample)
    if problems:
        raise ValueError(f"sample {id}: " + "; ".join(problems))
    return sample


def sample_problems(sample: dict) -> list[str]:
    """Everything structurally wrong with a sample (empty when it is well formed)."""
    problems = []
    if sample.get("task") not in TASKS:
        problems.append(f"task {sample.get('task')!r} is not one of {', '.join(TASKS)}")
    if sample.get("source") not in SOURCES:
        problems.append(f"source {sample.get('source')!r} is not one of {', '.join(SOURCES)}")
    messages = sample.get("messages") or []
    if len(messages) < 2:
        problems.append("needs at least one user and one assistant turn")
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.get("role") != expected:
            problems.append(f"turn {index} should be {expected}, is {message.get('role')!r}")
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            problems.append(f"turn {index} is empty")
    if messages and not str(messages[0].get("content", "")).startswith(IMAGE_PLACEHOLDER):
        problems.append(f"the first user turn must start with {IMAGE_PLACEHOLDER}")
    if any(IMAGE_PLACEHOLDER in str(m.get("content", "")) for m in messages[1:]):
        problems.append(f"{IMAGE_PLACEHOLDER} may only open the first turn")
    options = sample.get("options")
    if options is not None:
        if len(options) != 4:
            problems.append(f"{len(options)} options instead of 4")
        if len({o.strip().lower() for o in options}) != len(options):
            problems.append("options repeat")
        if sample.get("answer") not in LETTERS[: len(options)]:
            problems.append(f"answer {sample.get('answer')!r} is not one of the options' letters")
    return problems


def mcq_prompt(question: str, options: list[str]) -> str:
    lines = [question] + [f"{letter}. {option}" for letter, option in zip(LETTERS, options, strict=False)]
    return "\n".join(lines) + "\nAnswer with the letter of the correct option."
