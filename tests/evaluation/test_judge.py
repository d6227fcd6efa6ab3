"""The judge: rubric prompt, parsing, and the real google-genai client against a local fake
Gemini server that injects failures."""

from __future__ import annotations

import json
import re

import pytest

from cerebragloss.evaluation.judge import (
    RUBRIC_VERSION,
    JudgeSettings,
    judge_answers,
    parse_judgement,
)
from cerebragloss.llm import MalformedReply
from cerebragloss.synthesis.fake_gemini import FakeGemini

ITEMS = [
    {"id": "q1", "question": "Where is the sharp wave?", "reference": "Right temporal, maximal at T8.", "answer": "Right temporal, maximal at T8."},
    {"id": "q2", "question": "What is the background?", "reference": "A 10 Hz alpha posterior dominant rhythm.", "answer": "Alpha rhythm posteriorly."},
    {"id": "q3", "question": "Any artifacts?", "reference": "Eye blinks in Fp1 and Fp2.", "answer": "A left temporal spike."},
    {"id": "q4", "question": "Sleep transients?", "reference": "A K-complex at 6 s.", "answer": ""},
]


def fake_grader(prompt: str) -> dict:
    """A deterministic stand-in for the judge model: 10 for the reference verbatim, else one point
    per word shared with the reference (at least 1)."""
    reference = re.search(r"REFERENCE ANSWER:\n(.*)\n\nTRAINEE ANSWER:", prompt, re.DOTALL).group(1)
    answer = prompt.rsplit("TRAINEE ANSWER:\n", 1)[1]
    if answer.strip() == reference.strip():
        return {"score": 10, "reason": "identical"}
    shared = set(re.findall(r"[a-z0-9]+", answer.lower())) & set(re.findall(r"[a-z0-9]+", reference.lower()))
    return {"score": max(1, min(9, len(shared))), "reason": f"{len(shared)} shared words"}


EXPECTED = {"q1": 10, "q2": 2, "q3": 1, "q4": 1}  # q2 shares "alpha" and "rhythm"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "judge-test-key")


def _settings(server, **changes) -> JudgeSettings:
    fast = {"base_url": server.base_url, "timeout_s": 1.0, "backoff_initial_s": 0.02, "backoff_max_s": 0.1, "attempts": 8, "concurrency": 2}
    return JudgeSettings(**(fast | changes))


@pytest.mark.parametrize(
    ("text", "expected"),
    [('{"score": 7, "reason": "ok"}', 7), ('Here you go: {"score": 10, "reason": "all correct"} Thanks', 10), ('{"score": 3.0, "reason": ""}', 3)],
)
def test_parse_judgement(text, expected):
    assert parse_judgement(text)["score"] == expected


@pytest.mark.parametrize("text", ['{"score": 11}', '{"score": 0}', '{"score": "high"}', '{"score": true}', "seven", None])
def test_unusable_judgements_are_refused(text):
    with pytest.raises(MalformedReply):
        parse_judgement(text)


def test_scores_mean_and_distribution_through_retries_and_the_cache(key, tmp_path):
    with FakeGemini(faults={"429": 0.2, "500": 0.15, "malformed": 0.15, "delay": 0.1}, seed=2, delay_s=2.0, responder=fake_grader) as server:
        result = judge_answers(ITEMS, _settings(server), tmp_path / "cache", progress=False)
        stats = server.stats()
        assert result["scores"] == EXPECTED and result["failed"] == {}
        assert result["mean"] == pytest.approx(sum(EXPECTED.values()) / 4)
        assert result["distribution"] == {1: 2, 2: 1, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0, 10: 1}
        assert result["rubric"] == RUBRIC_VERSION and sum(stats["injected"].values()) > 0
        assert stats["requests"] == 4 + sum(result["run"]["retries"].values())
        # rubric in the system instruction, scores asked for as JSON
        body = server.received[0]["body"]
        assert "senior clinical neurophysiologist" in body["systemInstruction"]["parts"][0]["text"]
        assert body["generationConfig"]["responseJsonSchema"]["required"] == ["score", "reason"]
        again = judge_answers(ITEMS, _settings(server), tmp_path / "cache", progress=False)
        assert server.stats()["requests"] == stats["requests"]  # all from the cache
    assert again["scores"] == EXPECTED and again["run"]["cached"] == 4


def test_a_judge_that_keeps_failing_is_listed_not_scored(key, tmp_path):
    with FakeGemini(faults={"503": 1.0}, responder=fake_grader) as server:
        result = judge_answers(ITEMS[:2], _settings(server, attempts=2), tmp_path / "cache", progress=False)
    assert result["scores"] == {} and result["mean"] is None and sorted(result["failed"]) == ["q1", "q2"]
    assert all(reason.startswith("ServerError: 503") for reason in result["failed"].values())


def test_the_local_transformers_judge_needs_a_model_directory(tmp_path):
    from cerebragloss.evaluation.judge import TransformersJudge

    with pytest.raises(FileNotFoundError, match="not a Hugging Face model directory"):
        TransformersJudge(JudgeSettings(kind="transformers", model_dir=str(tmp_path)))
    assert json.loads(json.dumps(JudgeSettings().__dict__))["kind"] == "gemini"


def test_a_local_model_judge_runs_and_an_unparsable_judgement_is_reported(tmp_path):
    # A real (tiny, random) Qwen2 chat model on disk: it generates, but not a JSON score, so the
    # item is reported as failed with the reason instead of getting a made-up score.
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2TokenizerFast

    from cerebragloss.model import CHAT_TEMPLATE, tokenizer_files

    tokenizer = Qwen2TokenizerFast.from_pretrained(str(tokenizer_files()))
    tokenizer.chat_template = CHAT_TEMPLATE
    config = Qwen2Config(vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, tie_word_embeddings=True)  # fmt: skip
    Qwen2ForCausalLM(config).save_pretrained(tmp_path / "judge")
    tokenizer.save_pretrained(tmp_path / "judge")
    settings = JudgeSettings(kind="transformers", model_dir=str(tmp_path / "judge"))
    result = judge_answers(ITEMS[:1], settings, tmp_path / "cache", progress=False)
    assert result["judge"] == "judge" and result["scores"] == {}
    assert result["failed"]["q1"].startswith("MalformedReply")
