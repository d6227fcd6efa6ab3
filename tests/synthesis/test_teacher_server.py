"""The real google-genai client against a local fake Gemini server on 127.0.0.1 with injected
faults: 429s, 500/503s, replies slower than the timeout, malformed JSON and invented findings."""

from __future__ import annotations

import json
import urllib.request

import pytest

from cerebragloss.synthesis.drill import teacher_fault_drill
from cerebragloss.synthesis.fake_gemini import FakeGemini
from cerebragloss.synthesis.run import AugmentSettings, augment_with_teacher
from cerebragloss.synthesis.teacher import (
    TEACHER_TASKS,
    GeminiTeacher,
    ReplyCache,
    TeacherSettings,
    build_request,
    run_teacher,
)

SECRET = "test-secret-key-0123456789"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    return SECRET


def _settings(server: FakeGemini, **changes) -> TeacherSettings:
    fast = {"timeout_s": 0.5, "backoff_initial_s": 0.02, "backoff_max_s": 0.1, "attempts": 8, "concurrency": 4}
    return TeacherSettings(kind="gemini", base_url=server.base_url, **(fast | changes))


def test_the_fake_speaks_gemini():
    with FakeGemini() as server:
        request = urllib.request.Request(f"{server.base_url}/v1beta/models/x:countTokens", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(request, timeout=5)
    with pytest.raises(ValueError, match="unknown faults"):
        FakeGemini(faults={"teapot": 0.5})


def test_the_request_carries_system_instruction_one_shot_and_response_schema(key, annotations, tmp_path):
    with FakeGemini() as server:
        settings = _settings(server, model="gemini-2.5-flash")
        run_teacher([build_request(annotations[0], "complex_mcq")], GeminiTeacher(settings), ReplyCache(tmp_path), settings, progress=False)
        (request,) = server.received
    assert request["path"].endswith("/models/gemini-2.5-flash:generateContent") and request["has_key"]
    body = request["body"]
    assert "State only what the input contains" in body["systemInstruction"]["parts"][0]["text"]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]  # the one-shot example, then the page
    assert body["contents"][2]["parts"][0]["text"].startswith("TASK: complex_mcq")
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["question", "options", "answer", "explanation"]
    # google-genai 3.x passes this one through in proto field spelling, which the API also accepts
    assert config["thinkingConfig"] in ({"thinkingBudget": 0}, {"thinking_budget": 0})
    assert SECRET not in json.dumps(body)


def test_retries_through_every_fault_kind_and_loses_nothing(key, annotations, tmp_path):
    requests = [build_request(a, TEACHER_TASKS[i % 3]) for i, a in enumerate(annotations)]
    faults = {"429": 0.15, "500": 0.1, "503": 0.05, "delay": 0.08, "malformed": 0.12}
    with FakeGemini(faults=faults, seed=3, delay_s=2.0) as server:
        settings = _settings(server, timeout_s=1.0)
        teacher = GeminiTeacher(settings)
        replies, report = run_teacher(requests, teacher, ReplyCache(tmp_path / "cache"), settings, progress=False)
        stats = server.stats()
    assert report.failed == {} and len(replies) == len(requests) == report.asked
    injected = stats["injected"]
    assert set(injected) == set(faults), injected  # every kind happened at least once
    # each injected fault cost exactly one retry, under its own name (a slow machine may time out
    # a healthy request too, so timeouts are at least the injected delays)
    assert {k: report.retries[k] for k in ("429", "500", "503", "malformed")} == {k: injected[k] for k in ("429", "500", "503", "malformed")}
    assert report.retries["timeout"] >= injected["delay"]
    assert stats["requests"] == len(requests) + sum(report.retries.values())
    assert report.input_tokens > 0 and report.output_tokens > 0 and report.cost_usd > 0
    assert {r["reply"] and r["source"] for r in replies.values()} == {"llm"}


def test_a_request_that_keeps_failing_is_reported_not_cached(key, annotations, tmp_path):
    with FakeGemini(faults={"500": 1.0}) as server:
        settings = _settings(server, attempts=3)
        cache = ReplyCache(tmp_path / "cache")
        replies, report = run_teacher([build_request(annotations[0], "description")], GeminiTeacher(settings), cache, settings, progress=False)
        assert server.stats()["requests"] == 3
    assert replies == {} and len(cache) == 0
    assert list(report.failed.values())[0].startswith("ServerError: 500")


def test_invented_findings_from_the_server_are_rejected_and_kept_out_of_the_shards(key, annotated, tmp_path):
    with FakeGemini(faults={"invent": 0.4}, seed=1) as server:
        settings = AugmentSettings(teacher=_settings(server))
        report = augment_with_teacher(annotated, tmp_path / "out", settings, progress=False)
        invented = server.stats()["injected"]["invent"]
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert invented > 3 and report["rejected"] == len(rejects) == invented
    assert report["accepted"] == report["requested"] - invented
    assert report["rejection_rate"] == pytest.approx(invented / report["requested"], abs=1e-3)
    for reject in rejects:
        assert any(reason.startswith("invents ") for reason in reject["reasons"]), reject["reasons"]
        # the fake names a location only where the page leaves one free (see fake_gemini._invent)
        if "with its maximum at" in json.dumps(reject["reply"]):
            assert any(reason.startswith("names electrode ") for reason in reject["reasons"]), reject["reasons"]


def test_the_key_is_never_written(key, annotated, tmp_path):
    with FakeGemini() as server:
        augment_with_teacher(annotated, tmp_path / "out", AugmentSettings(teacher=_settings(server)), limit=6, progress=False)
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(written) > 6
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_killed_midway_and_restarted_every_sample_exactly_once(annotated, tmp_path):
    # tools/augment_llm.py in a subprocess, SIGKILLed after 8 cached replies, then run again.
    result = teacher_fault_drill(annotated, tmp_path / "drill", faults={"429": 0.15, "500": 0.1, "malformed": 0.1, "delay": 0.05},
                                 kill_after=8, timeout_s=0.5, delay_s=1.0)  # fmt: skip
    assert result["killed_midway"] and 8 <= result["cached_when_killed"] < result["requested"]
    assert result["from_cache_after_restart"] == result["cached_when_killed"]
    assert result["asked_after_restart"] == result["requested"] - result["cached_when_killed"]
    assert result["in_shards"] + result["rejected"] == result["requested"] == 24
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["failed"] == 0
    assert result["shard_problems"] == []
    assert sum(result["faults_injected"].values()) > 0
