"""tools/render.py as a user runs it: several inputs, some bad, one command."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from cerebragloss.render import Layout
from tests.conftest import sine

TOOL = Path(__file__).resolve().parents[2] / "tools" / "render.py"


def test_renders_good_files_and_reports_each_bad_one(tmp_path, write_edf):
    good = write_edf({f"EEG {e}-REF": sine(10, 35, amplitude=30, phase=i) for i, e in enumerate(["FP1", "F7", "T3", "T5", "O1"])},
                     name="patient01_s1.edf")  # fmt: skip
    empty = tmp_path / "empty.edf"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.edf"
    truncated.write_bytes(good.read_bytes()[:-5000])
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello")
    out = tmp_path / "pages"

    result = subprocess.run(
        [sys.executable, str(TOOL), str(good), str(empty), str(truncated), str(unknown), str(tmp_path / "missing.edf"),
         "--out", str(out), "--montage", "double_banana", "--start", "10", "--pages", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "empty.edf: file is empty" in result.stderr
    assert "cut.edf: file is truncated" in result.stderr
    assert "notes.txt: unknown extension '.txt'" in result.stderr
    assert "missing.edf: no such file" in result.stderr
    assert "ok     " in result.stdout and "2 pages from 1 recordings, 4 failed" in result.stdout

    assert sorted(p.name for p in out.glob("*.png")) == ["patient01_s1_10000.png", "patient01_s1_20000.png"]
    lines = [json.loads(line) for line in (out / "pages.jsonl").read_text().splitlines()]
    assert [line["start_s"] for line in lines] == [10.0, 20.0]
    first = lines[0]
    assert first["channels"] == ["Fp1-F7", "F7-T7", "T7-P7", "P7-O1"] and first["subject"] == "patient01"
    assert first["montage"] == "longitudinal_bipolar" and "Cz" in first["missing"]
    layout = Layout.from_dict(first["layout"])
    image = Image.open(out / "patient01_s1_10000.png")
    assert image.size == (layout.width, layout.height)
    ink = np.asarray(image.convert("L")) == 0
    assert ink[layout.pixel_y("T7-P7") - 20 : layout.pixel_y("T7-P7") + 20, layout.pixel_x(5.0)].any()
    assert not list(out.glob("*.partial"))


def test_every_montage_into_its_own_folder(tmp_path, write_edf):
    path = write_edf({e: sine(9, 12, amplitude=20, phase=i) for i, e in enumerate(["Fp1", "F3", "C3", "P3", "O1", "Cz"])})
    from tools.render import main

    assert main([str(path), "--out", str(tmp_path / "all"), "--montage", "all"]) == 0
    folders = sorted(p.name for p in (tmp_path / "all").iterdir() if p.is_dir())
    assert folders == ["as_recorded", "average", "longitudinal_bipolar", "transverse_bipolar"]
    for folder in folders:
        assert len(list((tmp_path / "all" / folder).glob("*.png"))) == 2  # 12 s: one page + a padded one


def test_settings_from_yaml_and_overrides_are_applied_and_recorded(tmp_path, write_edf, capsys):
    from cerebragloss.settings import PageSettings, load_settings
    from tools.render import main

    path = write_edf({e: sine(9, 10, amplitude=20) for e in ["Fp1", "F7", "O1"]})
    config = tmp_path / "page.yaml"
    config.write_text("render:\n  width: 1120\n  height: 560\nfilters:\n  notch_hz: 50\n")
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--montage", "as_recorded", "--config", str(config),
                 "--set", "render.sensitivity_uv_per_mm=7"]) == 0  # fmt: skip
    recorded = load_settings(PageSettings, out / "render_settings.yaml")
    assert (recorded.render.width, recorded.render.height, recorded.render.sensitivity_uv_per_mm) == (1120, 560, 7.0)
    assert recorded.filters.notch_hz == 50
    (page,) = out.glob("*.png")
    image = Image.open(page)
    assert image.size == (1120, 420) and image.info["sensitivity_uv_per_mm"] == "7"  # 3 rows: a shorter page (max_row_height)

    try:
        main([str(path), "--out", str(out), "--set", "render.widht=1000"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "Key 'widht' not in 'RenderSettings'. Did you mean: 'width'?" in capsys.readouterr().err
