"""tools/simulate.py and tools/detector_dataset.py as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_simulate_then_make_a_dataset(tmp_path):
    result = _run(TOOLS / "simulate.py", "--out", tmp_path / "sim", "--subjects", "3", "--minutes", "0.5",
                  "--seed", "4", "--prefix", "pt", "--set", "events_per_page=3")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "sim").iterdir()) == [
        f"pt00{i}_r0.{ext}" for i in range(3) for ext in ("edf", "events.json")
    ]
    result = _run(TOOLS / "detector_dataset.py", tmp_path / "sim", "--out", tmp_path / "data", "--val-fraction", "0.34")
    assert result.returncode == 0, result.stderr
    assert "validation subjects: pt" in result.stdout and "spike" in result.stdout
    report = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert report["pages"] == {"train": 6, "val": 3}


def test_simulate_refuses_a_mistyped_setting(tmp_path):
    result = _run(TOOLS / "simulate.py", "--out", tmp_path, "--set", "events_per_pgae=3")
    assert result.returncode == 2 and "events_per_pgae" in result.stderr


def test_hybrid_mode_reports_a_recording_without_electrodes(tmp_path, write_edf):
    from tests.conftest import sine

    good = write_edf({e: sine(10, 30, amplitude=30, phase=i) for i, e in enumerate(["Fp1", "F7", "T7", "C3", "O1"])}, name="real01_a.edf")
    ecg_only = write_edf({"ECG": sine(1, 30, amplitude=500)}, name="ecg02_a.edf")
    result = _run(TOOLS / "simulate.py", "--out", tmp_path / "hybrid", "--background", good, ecg_only, "--state", "awake")
    assert result.returncode == 1
    assert "ok     " in result.stdout and "ecg02_a.edf" in result.stderr
    truth = json.loads((tmp_path / "hybrid" / "real01_a_hybrid.events.json").read_text())
    assert truth["background_source"] == "real01_a.edf"
    assert {c for e in truth["events"] for c in e["channels"]} <= {"Fp1", "F7", "T7", "C3", "O1"}


def test_detect_tool_writes_every_page_and_reports_bad_inputs(tmp_path):
    from cerebragloss.signals.simulate import simulate_recordings

    recording = simulate_recordings(tmp_path / "sim", subjects=1, minutes=0.5, seed=1)[0]
    result = _run(TOOLS / "detect.py", recording, tmp_path / "missing.edf", "--out", tmp_path / "found", "--draw", "--confidence", "0.05")
    assert result.returncode == 1 and "missing.edf" in result.stderr
    assert "ok     " in result.stdout and "3 pages" in result.stdout
    pages = [json.loads(line) for line in (tmp_path / "found" / "detections.jsonl").read_text().splitlines()]
    assert [p["start_s"] for p in pages] == [0.0, 10.0, 20.0]
    drawn = list((tmp_path / "found" / "pages").glob("*.png"))
    assert len(drawn) == sum(1 for p in pages if p["events"])


PAGE_NAMES = [f"page{i:02d}" for i in range(10)]


def test_pack_detector_data_carries_linked_pages_and_labels_as_files(tmp_path):
    """tools/pack_detector_data.py: a mix whose pages and labels are links into other folders
    (as `make detector-data`'s mixes are) is packed as real files, every label beside its page,
    pages split across the parts with no name clash between folders, dataset.json in the last,
    and names in a shuffled order (rect training batches pages by name: folder names would give
    batches of one folder each)."""
    import tarfile

    sources = []
    for folder in ("a", "b"):
        real = tmp_path / f"real_{folder}"
        linked = tmp_path / f"data_{folder}"
        for kind, suffix, text in (("images", ".png", "png bytes"), ("labels", ".txt", f"0 0.5 0.5 0.1 0.1 {folder}")):
            (real / kind / "train").mkdir(parents=True)
            (linked / kind / "train").mkdir(parents=True)
            for page in PAGE_NAMES:
                (real / kind / "train" / f"{page}{suffix}").write_text(text)
                (linked / kind / "train" / f"{page}{suffix}").symlink_to(real / kind / "train" / f"{page}{suffix}")
        sources.append(str(linked / "images" / "train"))
    (tmp_path / "mix").mkdir()
    (tmp_path / "mix" / "data.yaml").write_text(f"train: [{', '.join(sources)}]\nval: []\nnames: {{0: spike}}\n")
    (tmp_path / "mix" / "dataset.json").write_text('{"coverage": {"montages": ["average"]}}')
    result = _run(TOOLS / "pack_detector_data.py", tmp_path / "mix", "--out", tmp_path / "packed", "--parts", "2")
    assert result.returncode == 0, result.stderr
    members = {}
    for part in ("detector_part1.tar", "detector_part2.tar"):
        with tarfile.open(tmp_path / "packed" / part) as tar:
            for member in tar.getmembers():
                assert member.isfile(), f"{member.name} packed as a link: it would dangle on the device"
                members[member.name] = (part, tar.extractfile(member).read().decode())
    pages = sorted(name for name in members if name.startswith("images/"))
    assert sorted(page.split("_", 1)[1] for page in pages) == [f"d{i}_{p}.png" for i in (0, 1) for p in PAGE_NAMES]
    folders_in_name_order = [page.split("_")[1] for page in pages]
    assert folders_in_name_order != sorted(folders_in_name_order), "pages of one folder would be batched together"
    for page in pages:
        label = page.replace("images/", "labels/").replace(".png", ".txt")
        assert members[label][0] == members[page][0], "a label travels in its page's part"
        assert members[label][1].endswith("a" if "_d0_" in page else "b")
    assert members["dataset.json"][0] == "detector_part2.tar"
    assert {part for part, _ in members.values()} == {"detector_part1.tar", "detector_part2.tar"}


@pytest.mark.slow
def test_gpu_detector_runs_train_each_named_run_with_its_own_model_and_settings(tmp_path):
    """tools/gpu_checks.sh --detector as the GPU call runs it, on the CPU (DETECTOR_DEVICE=cpu): two
    DETECTOR_RUNS at once, the default weights fine-tuned and the wide model from scratch with its
    own learning rate, each back under $OUT with its weights, coverage and results."""
    import os

    import yaml

    from cerebragloss.detection.dataset import write_yolo_dataset
    from cerebragloss.signals.simulate import SimulationSettings, simulate_recordings

    recordings = simulate_recordings(tmp_path / "sim", subjects=2, minutes=0.3, seed=5, settings=SimulationSettings(events_per_page=3))
    write_yolo_dataset(recordings, tmp_path / "data", val_fraction=0.5, progress=False)
    packed = _run(TOOLS / "pack_detector_data.py", tmp_path / "data", "--out", tmp_path / "packed")
    assert packed.returncode == 0, packed.stderr
    root = TOOLS.parent
    runs = (f"fine:{root / 'cerebragloss/detection/weights/cerebragloss-yolo-sim.pt'}:320 "
            f"wide:{root / 'cerebragloss/detection/models/cerebragloss-yolo-wide.yaml'}:320:lr0=0.002,warmup_epochs=1")  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
           "DETECTOR_DEVICE": "cpu", "DETECTOR_WORKERS": "0", "DETECTOR_BATCH": "4", "DETECTOR_RUNS": runs,
           "DETECTOR_DATA_DIR": str(tmp_path / "unpacked")}  # fmt: skip
    result = subprocess.run(["bash", str(TOOLS / "gpu_checks.sh"), "--detector", "0.01", str(tmp_path / "packed" / "detector_part1.tar")],
                            cwd=root, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "out"
    for name in ("fine", "wide"):
        for kept in (f"detector_{name}.pt", f"detector_{name}.coverage.json", f"results_{name}.csv"):
            assert (out / kept).exists(), f"{kept} not back under $OUT"
    fine = yaml.safe_load((out / "run_fine" / "train_settings.yaml").read_text())
    wide = yaml.safe_load((out / "run_wide" / "train_settings.yaml").read_text())
    assert fine["model"].endswith("cerebragloss-yolo-sim.pt") and fine["lr0"] == 0.001
    assert wide["model"].endswith("cerebragloss-yolo-wide.yaml") and wide["lr0"] == 0.002 and wide["warmup_epochs"] == 1
    assert (out / "detector_wide.pt").stat().st_size > 2 * (out / "detector_fine.pt").stat().st_size  # 3.0 M parameters, not 0.9 M


def test_pack_detector_data_adds_other_datasets_training_pages_but_not_their_validation(tmp_path):
    """--add-train: another draw of the same subjects joins the training pages; its validation pages
    would repeat DATA's validation subjects, so they stay behind."""
    import tarfile

    for folder in ("data", "draw2"):
        for split in ("train", "val"):
            for kind, suffix in (("images", ".png"), ("labels", ".txt")):
                (tmp_path / folder / kind / split).mkdir(parents=True)
                (tmp_path / folder / kind / split / f"{folder}_{split}{suffix}").write_text("x")
        (tmp_path / folder / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: {0: spike}\n")
    result = _run(TOOLS / "pack_detector_data.py", tmp_path / "data", "--add-train", tmp_path / "draw2", "--out", tmp_path / "packed")
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / "packed" / "detector_part1.tar") as tar:
        images = sorted(name.split("/")[1] + ":" + name.split("_", 2)[-1] for name in tar.getnames() if name.startswith("images/"))
    assert images == ["train:data_train.png", "train:draw2_train.png", "val:data_val.png"]
