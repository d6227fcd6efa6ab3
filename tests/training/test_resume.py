"""The resume drill: a run SIGKILLed mid-epoch and resumed from its last checkpoint trains on
exactly one epoch's samples; only the batches trained after that checkpoint come twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cerebragloss.runtime import project_root

DRILL = Path(__file__).with_name("resume_drill.py")


def _run(*args: str, expect_kill: bool = False) -> None:
    env = dict(os.environ, PYTHONPATH=str(project_root()))
    result = subprocess.run([sys.executable, str(DRILL), *args], cwd=project_root(), env=env, capture_output=True, text=True, timeout=600)
    if expect_kill:
        assert result.returncode == -9, result.stderr[-3000:]
    else:
        assert result.returncode == 0, result.stderr[-3000:]


def _trained(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_run_killed_mid_epoch_resumes_where_its_checkpoint_left_off(shard_root, tmp_path):
    _run(str(shard_root), str(tmp_path / "whole"))
    whole = _trained(tmp_path / "whole" / "trained.jsonl")
    assert len(whole) >= 10

    kill_at = 5  # batches 0-4 trained; checkpoints every 2 steps: the last one after batch 3
    _run(str(shard_root), str(tmp_path / "run"), "--kill-at", str(kill_at), expect_kill=True)
    killed = _trained(tmp_path / "run" / "trained.jsonl")
    assert [b["batch"] for b in killed] == list(range(kill_at))
    _run(str(shard_root), str(tmp_path / "run2"), "--resume", str(tmp_path / "run" / "ckpt" / "last.ckpt"))
    resumed = _trained(tmp_path / "run2" / "trained.jsonl")
    assert resumed[0]["batch"] == 4 and resumed[0]["step"] == 5  # continues after the checkpoint's 4 steps

    epoch = Counter(i for b in whole for i in b["ids"])
    assert set(epoch.values()) == {1}
    seen = Counter(i for b in killed + resumed for i in b["ids"])
    assert set(seen) == set(epoch)  # the union is one uninterrupted epoch
    after_checkpoint = Counter(killed[4]["ids"])  # trained after the last checkpoint, forgotten by the kill
    assert seen - epoch == after_checkpoint  # the only duplicates
    # the resumed run takes the uninterrupted run's remaining batches (the worker round robin may reorder them)
    assert sorted(map(sorted, (b["ids"] for b in resumed))) == sorted(map(sorted, (b["ids"] for b in whole[4:])))


@pytest.fixture(autouse=True)
def _quiet_tokenizers(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
