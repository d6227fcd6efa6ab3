"""The LLM judge: a QA answer scored 1-10 against the reference with a versioned rubric.

The paper scores open-ended QA with a GPT-5 judge; here the judge is Gemini through google-genai
(``cerebragloss.llm``: retried, cached, key from the environment) or a local transformers model
(``TransformersJudge``, any chat model on disk). Scores are cached under a hash of judge, model,
rubric version and the (question, reference, answer) triple, so re-scoring the same answers is
free and a stopped run resumes. ``judge_answers`` returns every score, the mean and the
distribution, and lists what could not be scored (never silently dropped).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from cerebragloss.llm import (
    GeminiAsker,
    GeminiSettings,
    MalformedReply,
    Reply,
    ReplyCache,
    request_key,
    run_requests,
)

#: Bump when the rubric or the schema changes: cached scores then no longer apply.
RUBRIC_VERSION = "cerebragloss-qa-judge-1"

RUBRIC = """You are a senior clinical neurophysiologist grading a trainee's answer about one 10-second EEG page.
You are given the question, the reference answer (correct and complete) and the trainee's answer. Grade only the trainee's answer against the reference; do not use outside assumptions about the page.
Score from 1 to 10:
- 10: every finding of the reference is there and correct (waveform type, location/channels, laterality, timing, background, artifacts), in correct clinical terms, and nothing is added that the reference does not support.
- 7-9: the main findings are right; a minor finding is missing or imprecise (e.g. a neighbouring channel, an approximate frequency).
- 4-6: partly right: the main finding is missing, mislocalised or mislabelled, or a secondary finding is wrong.
- 2-3: mostly wrong, or right only about the background.
- 1: wrong, empty, unrelated, or it invents a clinically significant finding (e.g. an epileptiform discharge the reference does not have); an invented finding caps the score at 4 in any case.
Reply with JSON: {"score": <integer 1-10>, "reason": "<one sentence>"}."""

SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}, "reason": {"type": "string"}},
    "required": ["score", "reason"],
}


@dataclass
class JudgeSettings(GeminiSettings):
    """The judge of ``cerebragloss test`` (``--model.init_args.judge...``); the Gemini connection
    settings come from ``GeminiSettings``."""

    kind: str = "gemini"  # gemini | transformers
    #: a local model directory for kind=transformers
    model_dir: str = ""
    #: grading should not vary between runs
    temperature: float = 0.0


@dataclass(frozen=True)
class JudgeRequest:
    sample_id: str
    question: str
    reference: str
    answer: str
    task: str = "judge"

    @property
    def prompt(self) -> str:
        return f"QUESTION:\n{self.question}\n\nREFERENCE ANSWER:\n{self.reference}\n\nTRAINEE ANSWER:\n{self.answer}"


def parse_judgement(text: str | None) -> dict:
    """``{"score": 1-10, "reason": str}`` from a reply; ``MalformedReply`` otherwise. Tolerates a
    JSON object inside surrounding text (local models add prose)."""
    raw = (text or "").strip()
    match = re.search(r"\{.*\}", raw, re.DOTALL)
    try:
        reply = json.loads(match.group(0) if match else raw)
    except json.JSONDecodeError as error:
        raise MalformedReply(f"not JSON ({error.msg}): {raw[:80]!r}") from None
    score = reply.get("score") if isinstance(reply, dict) else None
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 10:
        raise MalformedReply(f"score must be an integer 1-10, got {score!r}")
    return {"score": score, "reason": str(reply.get("reason", ""))}


class GeminiJudge(GeminiAsker):
    def ask(self, request: JudgeRequest) -> Reply:
        return self.client.generate_json(RUBRIC, [("user", request.prompt)], SCHEMA, parse_judgement)


class TransformersJudge:
    """A local chat model (``AutoModelForCausalLM`` + its tokenizer's chat template) as the judge;
    greedy decoding, one request at a time."""

    source = "local"

    def __init__(self, settings: JudgeSettings):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not settings.model_dir or not (Path(settings.model_dir) / "config.json").exists():
            raise FileNotFoundError(f"judge.model_dir={settings.model_dir!r}: not a Hugging Face model directory")
        self.settings = settings
        self.name = Path(settings.model_dir).name
        self.tokenizer = AutoTokenizer.from_pretrained(settings.model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(settings.model_dir)
        self.model.eval()

    def ask(self, request: JudgeRequest) -> Reply:
        import torch

        messages = [{"role": "system", "content": RUBRIC}, {"role": "user", "content": request.prompt}]
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = encoded["input_ids"]
        with torch.no_grad():
            output = self.model.generate(**encoded, max_new_tokens=96, do_sample=False)
        text = self.tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)
        return Reply(parse_judgement(text), int(ids.shape[1]), int(output.shape[1] - ids.shape[1]))


def make_judge(settings: JudgeSettings):
    if settings.kind == "gemini":
        return GeminiJudge(settings)
    if settings.kind == "transformers":
        return TransformersJudge(settings)
    raise ValueError(f"judge.kind must be 'gemini' or 'transformers', got {settings.kind!r}")


def judge_key(request: JudgeRequest, settings: JudgeSettings) -> str:
    return request_key({"kind": settings.kind, "model": settings.model if settings.kind == "gemini" else settings.model_dir,
                        "rubric": RUBRIC_VERSION, "temperature": settings.temperature, "prompt": request.prompt})  # fmt: skip


def judge_answers(items: list[dict], settings: JudgeSettings, cache_dir: str | Path, judge=None, progress: bool = True) -> dict:
    """Score ``items`` (``{"id", "question", "reference", "answer"}``): every score, their mean,
    the distribution over 1-10, what failed and why, retries, tokens and cost."""
    judge = judge or make_judge(settings)
    requests = [JudgeRequest(str(i["id"]), i["question"], i["reference"], i["answer"]) for i in items]
    if len({r.sample_id for r in requests}) != len(requests):
        raise ValueError("judge items need distinct ids")
    concurrency = settings.concurrency if isinstance(judge, GeminiJudge) else 1
    replies, report = run_requests(requests, judge, ReplyCache(cache_dir), lambda r: judge_key(r, settings), concurrency=concurrency,
                                   price_input_per_million=settings.price_input_per_million,
                                   price_output_per_million=settings.price_output_per_million, progress=progress, desc="judge")  # fmt: skip
    scores = {sample_id: record["reply"]["score"] for sample_id, record in replies.items()}
    distribution = Counter(scores.values())
    return {
        "rubric": RUBRIC_VERSION,
        "judge": judge.name,
        "scores": scores,
        "reasons": {sample_id: record["reply"]["reason"] for sample_id, record in replies.items()},
        "mean": sum(scores.values()) / len(scores) if scores else None,
        "distribution": {score: distribution.get(score, 0) for score in range(1, 11)},
        "scored": len(scores),
        "failed": report.failed,
        "run": asdict(report),
    }
