"""The teacher fault drill: the real client against a faulty local Gemini, killed midway, restarted.

``teacher_fault_drill`` starts :class:`FakeGemini` with the given fault rates, runs
``tools/augment_llm.py --teacher gemini`` against it in a subprocess, kills that process (SIGKILL,
no clean-up) once ``kill_after`` replies are cached, runs the same command again to the end, and
then counts what the shards hold: every requested sample must be there exactly once (or be in
``rejects.jsonl`` with a reason), none lost, none duplicated. ``tools/teacher_drill.py`` prints
the result as a table; ``tests/synthesis/test_teacher_server.py`` asserts it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from cerebragloss.shards import SPLITS, check_shard_set, iter_shard_set
from cerebragloss.synthesis.fake_gemini import FakeGemini

TOOL = Path(__file__).resolve().parents[2] / "tools" / "augment_llm.py"


def _cached(cache: Path) -> int:
    return sum(1 for _ in cache.glob("*/*.json")) if cache.exists() else 0


def teacher_fault_drill(annotations_dir: str | Path, out: str | Path, *, faults: dict[str, float], limit: int | None = None,
                        kill_after: int = 10, timeout_s: float = 0.5, delay_s: float = 1.5, concurrency: int = 4,
                        seed: int = 0, wait_limit_s: float = 300.0) -> dict:  # fmt: skip
    out = Path(out)
    cache = out / "teacher_cache"
    with FakeGemini(faults=faults, seed=seed, delay_s=delay_s) as fake:
        command = [sys.executable, str(TOOL), str(annotations_dir), "--out", str(out), "--teacher", "gemini",
                   "--set", f"teacher.base_url={fake.base_url}", f"teacher.timeout_s={timeout_s}", f"teacher.concurrency={concurrency}",
                   "teacher.backoff_initial_s=0.05", "teacher.backoff_max_s=0.5", "teacher.attempts=10"]  # fmt: skip
        if limit is not None:
            command += ["--limit", str(limit)]
        # A key the fake accepts; the real one is never needed (and never read) here.
        env = os.environ | {"GEMINI_API_KEY": "drill-not-a-real-key"}
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait_limit_s
        while _cached(cache) < kill_after and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        killed = first.poll() is None
        if killed:
            first.send_signal(signal.SIGKILL)
        first.wait()
        cached_at_kill = _cached(cache)
        requests_first_run = fake.stats()["requests"]
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=wait_limit_s)
        stats = fake.stats()
    if second.returncode not in (0, 1):
        raise RuntimeError(f"the restarted run failed ({second.returncode}): {second.stderr[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    ids: Counter = Counter()
    problems = []
    for split in SPLITS:
        if (out / split / "manifest.json").exists():
            problems += [f"{split}: {p}" for p in check_shard_set(out / split)]
            ids.update(sample["id"] for sample, _ in iter_shard_set(out / split))
    rejected = {json.loads(line)["id"] for line in (out / "rejects.jsonl").read_text().splitlines() if line}
    requested = report["requested"]
    return {
        "requested": requested,
        "killed_midway": killed,
        "cached_when_killed": cached_at_kill,
        "requests_before_kill": requests_first_run,
        "requests_total": stats["requests"],
        "faults_injected": stats["injected"],
        "retries_after_restart": report["teacher"]["retries"],
        "from_cache_after_restart": report["teacher"]["cached"],
        "asked_after_restart": report["teacher"]["asked"],
        "in_shards": sum(ids.values()),
        "rejected": len(rejected),
        "failed": len(report["failed"]),
        "lost": requested - len(set(ids) | rejected) - len(report["failed"]) - len(report["pages_skipped"]),
        "duplicates": sum(count - 1 for count in ids.values() if count > 1) + len(set(ids) & rejected),
        "answered_twice_by_server": stats["answered_more_than_once"],
        "shard_problems": problems,
        "teacher_table": report.get("teacher_table", ""),
        "stdout": second.stdout,
    }
