"""`tools/learn.py --ablations --sweep` end to end at a toy size (slow): the paper's five ablation
rows and the stage-1 fraction sweep's grid train, test and print their tables, each row through
its own overlay. The figures are meaningless at this size; what is checked is that every row ran
the recipe it names."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ablation_rows_and_fraction_sweep_run_end_to_end(tmp_path):
    from cerebragloss.learning import ABLATION_ROWS, sweep_fractions

    # stage 1's epoch is 160 samples = 20 steps of 8, so the grid's fractions stop it at different steps
    settings = ["subjects=8", "minutes=0.5", "stage0_samples=16", "stage1_samples=160", "stage2_samples=16", "general=8",
                'extra=["--trainer.limit_val_batches=1", "--trainer.limit_test_batches=2"]']  # fmt: skip
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "learn.py"), "--out", str(tmp_path), "--ablations", "--sweep",
                             "--set", *settings], capture_output=True, text=True, timeout=1800, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ablations = json.loads((tmp_path / "ablations.json").read_text())
    assert list(ablations["rows"]) == [name for name, _, _ in ABLATION_ROWS]
    for name, row in ablations["rows"].items():
        assert row["n"].get("binary", 0) > 0, name
        assert row["binary_auc"] is None or 0.0 <= row["binary_auc"] <= 1.0, name
    runs = tmp_path / "runs"
    assert not (runs / "ablations" / "no_stage2" / "stage2").exists(), "the no-stage-2 row must not train stage 2"
    for folder in ("stage2_no_llm_data", "stage2_no_rule_captions"):  # their own stage 2 on the full row's stage 1
        assert (runs / "ablations" / folder / "stage2" / "hf" / "config.json").exists()
        assert (runs / "ablations" / folder / "stage1").resolve() == (runs / "seeing" / "stage1").resolve()
    assert "Stage2=0 (No Instruct)" in result.stdout and "held-out samples per task" in result.stdout

    sweep = json.loads((tmp_path / "sweep.json").read_text())
    fractions = sweep_fractions()
    assert list(sweep["rows"]) == [f"Stage1={f:g}" for f in fractions]
    # each row's stage 1 stopped at its own fraction of the 20-step epoch (StopAtFraction: ceil)
    steps, current = {}, None
    for line in result.stdout.splitlines():
        if line.startswith("ablation: Stage1=0.20 ->"):
            current = 0.2
        elif match := re.match(r"sweep: stage-1 fraction ([\d.]+) ->", line):
            current = float(match.group(1))
        elif (found := re.match(r"\s+stage1: (\d+) optimizer steps", line)) and current is not None:
            steps[current] = int(found.group(1))
    assert steps == {f: math.ceil(f * 20) for f in steps} and len(set(steps.values())) >= 3, steps
