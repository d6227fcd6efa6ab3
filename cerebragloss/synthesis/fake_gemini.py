"""A local stand-in for the Gemini API (``models/*:generateContent``) on 127.0.0.1, with faults.

The real ``google-genai`` client talks to it through ``HttpOptions(base_url=...)``, so the teacher's
retries, timeouts, cache and resume are exercised end to end without a network or a key. Its
answers are grounded: it reads the teacher input out of the prompt and answers what the offline
teacher would, in Gemini's response format with token counts. Faults are drawn per request from
a seeded generator:

- ``429`` / ``500`` / ``503``: an error status with Gemini's error body,
- ``delay``: sleeps ``delay_s`` (longer than the client's timeout) before answering,
- ``malformed``: status 200 whose text is cut-off JSON,
- ``invent``: status 200, valid JSON, with a finding that is not in the input (for verification).

``responder`` replaces the teacher's answers with any ``prompt -> reply dict`` (the judge's tests
use one). Used by the tests and by ``tools/teacher_drill.py``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

FAULTS = ("429", "500", "503", "delay", "malformed", "invent")


class FakeGemini:
    """``with FakeGemini(faults={"429": 0.1}) as server: ... server.base_url ...``"""

    def __init__(self, faults: dict[str, float] | None = None, seed: int = 0, delay_s: float = 2.0,
                 responder=None):  # fmt: skip
        self.faults = dict(faults or {})
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        self.delay_s = delay_s
        #: prompt text -> reply dict; default: the teacher's (reads the page facts from the prompt)
        self.responder = responder
        self.requests = 0
        self.injected: Counter = Counter()
        self.answered = Counter()  # successful answers by sample (page key + task)
        #: the first requests as received (path, whether a key header came, body), for wiring checks
        self.received: list[dict] = []
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet: the test output is about the client
                pass

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stats(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "injected": dict(self.injected), "answered": sum(self.answered.values()),
                    "answered_more_than_once": sum(1 for v in self.answered.values() if v > 1)}  # fmt: skip

    def _draw_fault(self) -> str | None:
        with self._lock:
            self.requests += 1
            draw = self._rng.random()
            for name, rate in self.faults.items():
                if draw < rate:
                    self.injected[name] += 1
                    return name
                draw -= rate
            return None

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: dict | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): what a real server sees too

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        from cerebragloss.synthesis.teacher import offline_reply, parse_prompt

        if not handler.path.split("?")[0].endswith(":generateContent"):
            self._send(handler, 404, {"error": {"code": 404, "message": f"no route {handler.path}", "status": "NOT_FOUND"}})
            return
        body = json.loads(handler.rfile.read(int(handler.headers.get("Content-Length", 0))) or b"{}")
        with self._lock:
            if len(self.received) < 10:
                self.received.append({"path": handler.path, "has_key": bool(handler.headers.get("x-goog-api-key")), "body": body})
        fault = self._draw_fault()
        if fault in ("429", "500", "503"):
            status = {"429": "RESOURCE_EXHAUSTED", "500": "INTERNAL", "503": "UNAVAILABLE"}[fault]
            self._send(handler, int(fault), {"error": {"code": int(fault), "message": f"injected {fault}", "status": status}})
            return
        if fault == "delay":
            time.sleep(self.delay_s)
        prompt = body["contents"][-1]["parts"][0]["text"]
        if self.responder is not None:
            task, payload = "custom", {"prompt": prompt}
            reply = self.responder(prompt)
        else:
            task, payload = parse_prompt(prompt)
            reply = offline_reply(task, payload, hashlib.sha256(prompt.encode()).hexdigest())
        text = json.dumps(reply, ensure_ascii=False)
        if fault == "malformed":
            text = text[: len(text) // 2]
        elif fault == "invent" and self.responder is None:
            reply = _invent(task, reply, payload)
            text = json.dumps(reply, ensure_ascii=False)
        if fault != "delay" and fault != "malformed":
            with self._lock:
                self.answered[(json.dumps(payload, sort_keys=True), task)] += 1
        self._send(handler, 200, {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": len(json.dumps(body)) // 4, "candidatesTokenCount": len(text) // 4,
                              "totalTokenCount": len(json.dumps(body)) // 4 + len(text) // 4},
            "modelVersion": "fake-gemini",
        })  # fmt: skip


def _invent(task: str, reply: dict, payload: dict) -> dict:
    """The reply plus one sentence naming a waveform the page does not have, at an electrode where
    the page has nothing."""
    from cerebragloss.labels import WAVEFORM_CLASSES
    from cerebragloss.synthesis.vocabulary import NAMES

    record = payload["annotation"]
    present = {e["class"] for e in record["epileptiform_discharges"] + record["sleep_transients"]}
    absent = next(c for c in WAVEFORM_CLASSES if c not in present)
    # The caption too: it names the electrodes of a dipole estimate ("phase reversal between F7-T7
    # and T7-P7"), which verification allows although the facts record holds only the focus.
    used = json.dumps(payload)
    # Posterior electrodes are left out: verification allows them on any page with a posterior
    # rhythm. Where every candidate is on the page, no location can be invented, only the finding.
    electrode = next((e for e in ("T7", "C4", "F3", "Fp2", "C3", "F4", "T8", "F7", "Fp1", "F8", "Fz", "Cz") if e not in used), None)
    where = f" with its maximum at {electrode}" if electrode else ""
    sentence = f"In addition, a {NAMES[absent][0]} is seen{where}."
    reply = json.loads(json.dumps(reply))
    if task == "description":
        reply["description"] += " " + sentence
    elif task == "complex_mcq":
        reply["explanation"] += " " + sentence
    else:
        reply["turns"][-1]["answer"] += " " + sentence
    return reply
