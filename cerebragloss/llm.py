"""Asking an LLM many things, reliably: the Gemini client, the reply cache and the concurrent run.

Shared by the synthesis teacher and the evaluation judge:

- ``GeminiClient``: google-genai with structured output (a JSON schema), a per-request timeout,
  and retries with exponential backoff and jitter (tenacity) on 408/429/5xx, transport errors and
  timeouts, and replies that do not parse; retries are counted by reason. The key comes from
  ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` only and goes nowhere else.
- ``ReplyCache``: one JSON file per reply under a hash of everything that decides it, written
  through a temporary name, so a rerun never pays twice and a killed run resumes.
- ``run_requests``: many requests with bounded concurrency, from the cache or the asker, with
  token and cost accounting; failures are reported, not cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

API_KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


@dataclass
class GeminiSettings:
    """How to reach Gemini and what it costs; the teacher's and the judge's settings extend it
    (the keys stay flat: ``teacher.timeout_s``, ``judge.model``)."""

    model: str = "gemini-2.5-flash"
    #: another endpoint for the Gemini API (a proxy, or a local fake in tests); empty = Google's
    base_url: str = ""
    #: requests in flight at once
    concurrency: int = 8
    timeout_s: float = 60.0
    #: attempts per request (the first included) before it counts as failed
    attempts: int = 6
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    temperature: float = 0.7
    #: 0 turns Gemini 2.5's thinking off
    thinking_budget: int = 0
    #: US$ per million tokens, for the cost estimate (gemini-2.5-flash list prices)
    price_input_per_million: float = 0.30
    price_output_per_million: float = 2.50


class MalformedReply(ValueError):
    """A reply that is not JSON in the expected schema."""


@dataclass
class Reply:
    """What one call returned: the parsed reply and its token counts."""

    reply: dict
    input_tokens: int = 0
    output_tokens: int = 0


def api_key_from_environment() -> str:
    for variable in API_KEY_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    raise RuntimeError(f"Gemini needs an API key in {' or '.join(API_KEY_VARIABLES)} (or use the offline teacher)")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Timeouts and dropped connections of the HTTP clients google-genai may use (httpx, or its
    fork httpx2, whose classes are not httpx's)."""
    import importlib

    found: list[type[BaseException]] = []
    for module in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


class GeminiClient:
    """``generate_json(system, turns, schema, parse)`` with retries (see the module docstring).

    ``settings``: a ``GeminiSettings`` (``TeacherSettings`` and ``JudgeSettings`` are ones).
    """

    def __init__(self, settings):
        from google import genai
        from google.genai import types

        self.settings = settings
        self._types = types
        http = types.HttpOptions(timeout=int(settings.timeout_s * 1000), base_url=settings.base_url or None)
        # The key goes to the client and nowhere else: not into settings, logs, caches or outputs.
        self._client = genai.Client(api_key=api_key_from_environment(), http_options=http)
        self.retries: Counter = Counter()
        self._lock = threading.Lock()

    def _is_transient(self, error: BaseException) -> bool:
        from google.genai import errors

        if isinstance(error, MalformedReply):
            return True
        if isinstance(error, errors.APIError):
            return error.code in (408, 429, 500, 502, 503, 504)
        return isinstance(error, _transport_errors())

    def _count_retry(self, state) -> None:
        error = state.outcome.exception()
        code = getattr(error, "code", None)
        reason = ("malformed" if isinstance(error, MalformedReply) else str(code) if code
                  else "timeout" if "Timeout" in type(error).__name__ else type(error).__name__)  # fmt: skip
        with self._lock:
            self.retries[reason] += 1

    def _once(self, system: str, turns: list[tuple[str, str]], schema: dict, parse: Callable[[str | None], dict]) -> Reply:
        types = self._types
        config = types.GenerateContentConfig(
            system_instruction=system, temperature=self.settings.temperature,
            response_mime_type="application/json", response_json_schema=schema,
            thinking_config=types.ThinkingConfig(thinking_budget=self.settings.thinking_budget),
        )  # fmt: skip
        contents = [types.Content(role=role, parts=[types.Part(text=text)]) for role, text in turns]
        response = self._client.models.generate_content(model=self.settings.model, contents=contents, config=config)
        reply = parse(response.text)
        usage = response.usage_metadata
        # Thinking tokens are billed as output; with thinking_budget 0 there are none.
        output = (getattr(usage, "candidates_token_count", None) or 0) + (getattr(usage, "thoughts_token_count", None) or 0)
        return Reply(reply, getattr(usage, "prompt_token_count", None) or 0, output)

    def generate_json(self, system: str, turns: list[tuple[str, str]], schema: dict, parse: Callable[[str | None], dict]) -> Reply:
        """``turns``: (role ``user``|``model``, text) pairs, the last one the question."""
        import tenacity

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.attempts),
            wait=tenacity.wait_exponential_jitter(initial=self.settings.backoff_initial_s, max=self.settings.backoff_max_s),
            retry=tenacity.retry_if_exception(self._is_transient),
            before_sleep=self._count_retry,
            reraise=True,
        )  # fmt: skip
        return retrying(self._once, system, turns, schema, parse)


class GeminiAsker:
    """Base of the Gemini teacher and judge: a client, its name, and its retry counts;
    subclasses write ``ask(request) -> Reply``."""

    source = "llm"

    def __init__(self, settings):
        self.settings = settings
        self.name = settings.model
        self.client = GeminiClient(settings)

    @property
    def retries(self) -> Counter:
        return self.client.retries


def request_key(decided: dict) -> str:
    """The cache key of a request: a hash of everything that decides its reply."""
    return hashlib.sha256(json.dumps(decided, sort_keys=True).encode()).hexdigest()


class ReplyCache:
    """One JSON file per reply, ``DIR/<2 hex>/<hash>.json``, written through a temporary name."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return None  # a torn write cannot happen (rename), but a hand-edited file can

    def put(self, key: str, record: dict) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
        temporary.write_text(json.dumps(record, ensure_ascii=False))
        temporary.replace(path)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json")) if self.directory.exists() else 0


@dataclass
class RunReport:
    """What a run of requests did and cost."""

    requested: int = 0
    cached: int = 0
    asked: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    def table(self) -> str:
        retries = ", ".join(f"{k} {v}" for k, v in sorted(self.retries.items())) or "none"
        return "\n".join([
            f"requested {self.requested}: from cache {self.cached}, asked {self.asked}, failed {len(self.failed)}",
            f"retries: {sum(self.retries.values())} ({retries})",
            f"tokens this run: input {self.input_tokens:,}, output {self.output_tokens:,}; estimated cost US${self.cost_usd:.4f}",
            f"time {self.seconds:.1f} s",
        ])  # fmt: skip


def run_requests(requests: list, asker, cache: ReplyCache, key_of: Callable[[object], str], *, concurrency: int,
                 price_input_per_million: float = 0.0, price_output_per_million: float = 0.0,
                 progress: bool = True, desc: str = "llm") -> tuple[dict[str, dict], RunReport]:  # fmt: skip
    """Every request's reply record (by ``request.sample_id``), from the cache or ``asker.ask``.

    ``asker`` has ``ask(request) -> Reply``, ``name``, ``source`` and, when it retries, a
    ``retries`` Counter. Failures are reported with their reason and not cached, so a rerun asks
    again.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    retries_before = Counter(getattr(asker, "retries", {}))
    report = RunReport(requested=len(requests))
    replies: dict[str, dict] = {}
    todo = []
    for request in requests:
        key = key_of(request)
        record = cache.get(key)
        if record is not None:
            replies[request.sample_id] = record
            report.cached += 1
        else:
            todo.append((request, key))
    lock = threading.Lock()
    bar = tqdm(total=len(requests), initial=report.cached, desc=f"{desc} ({asker.name})", unit="request", disable=not progress)

    def ask(item) -> None:
        request, key = item
        try:
            answer = asker.ask(request)
        except Exception as error:  # noqa: BLE001 - every failure is reported with its reason
            with lock:
                report.failed[request.sample_id] = f"{type(error).__name__}: {str(error)[:200]}"
            return
        record = {"id": request.sample_id, "task": getattr(request, "task", ""), "reply": answer.reply, "teacher": asker.name,
                  "source": asker.source, "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens}}  # fmt: skip
        cache.put(key, record)
        with lock:
            replies[request.sample_id] = record
            report.asked += 1
            report.input_tokens += answer.input_tokens
            report.output_tokens += answer.output_tokens

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        for future in as_completed([pool.submit(ask, item) for item in todo]):
            future.result()
            bar.update(1)
    bar.close()
    report.retries = dict(Counter(getattr(asker, "retries", {})) - retries_before)
    report.cost_usd = (report.input_tokens * price_input_per_million + report.output_tokens * price_output_per_million) / 1e6
    report.seconds = time.perf_counter() - started
    return replies, report
