from pathlib import Path

from PIL import Image

from cerebragloss.demo import run_demo


def test_demo_simulates_reads_and_renders_every_montage(tmp_path, capsys):
    result = run_demo(tmp_path, subjects=2, minutes=0.5)
    assert result["errors"] == {}
    assert result["pages"] == 2 * 3 * 4  # subjects x pages x montages
    for montage in ("as_recorded", "average", "longitudinal_bipolar", "transverse_bipolar"):
        pages = sorted((tmp_path / "pages" / montage).glob("*.png"))
        assert len(pages) == 6
        assert Image.open(pages[0]).size == (1344, 756)
        assert len((tmp_path / "pages" / montage / "pages.jsonl").read_text().splitlines()) == 6
    assert "look at one:" in capsys.readouterr().out
    assert Path(tmp_path / "recordings" / "sim000_r0.edf").exists()
