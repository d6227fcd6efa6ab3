"""The YOLO dataset writer: simulator truth, expert CSV and EDF+ annotations, split by subject."""

import json

import numpy as np
import pytest
import yaml

from cerebragloss.detection.dataset import (
    canonical_class,
    labels_from_annotations,
    read_label_csv,
    split_subjects,
    write_yolo_dataset,
)
from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.signals.io import Annotation
from cerebragloss.signals.simulate import SimulationSettings, simulate_recordings
from tests.conftest import sine


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    settings = SimulationSettings(events_per_page=3)
    return simulate_recordings(folder, subjects=5, minutes=1, seed=3, settings=settings)


def _labels(folder):
    return {p.stem: p.read_text().splitlines() for p in folder.glob("*.txt")}


def test_dataset_from_simulator_truth_is_split_by_subject(simulated, tmp_path):
    report = write_yolo_dataset(simulated, tmp_path, val_fraction=0.4, seed=0, progress=False)
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(WAVEFORM_CLASSES)) and data["train"] == "images/train"
    pages = {split: sorted(p.stem for p in (tmp_path / "images" / split).glob("*.png")) for split in ("train", "val")}
    assert len(pages["train"]) == 18 and len(pages["val"]) == 12  # 3 + 2 subjects x 6 pages
    subjects = {split: {name.split("_")[0] for name in names} for split, names in pages.items()}
    assert not subjects["train"] & subjects["val"]
    for split in ("train", "val"):
        labels = _labels(tmp_path / "labels" / split)
        assert sorted(labels) == pages[split]  # one label file per page, empty ones included
        for lines in labels.values():
            for line in lines:
                cls, *box = line.split()
                assert 0 <= int(cls) < 9 and all(0 <= float(v) <= 1 for v in box)
    counted = sum(sum(v.values()) for v in report.boxes.values())
    assert counted == sum(len(lines) for s in ("train", "val") for lines in _labels(tmp_path / "labels" / s).values())
    index = [json.loads(line) for line in (tmp_path / "boxes.jsonl").read_text().splitlines()]
    assert len(index) == 30 and {p["split"] for p in index} == {"train", "val"}
    assert report.label_source == dict.fromkeys((p.stem for p in simulated), "simulator truth")


def test_split_is_deterministic_and_can_hold_everything_out():
    subjects = [f"s{i}" for i in range(10)]
    first, again = split_subjects(subjects, 0.3, seed=1), split_subjects(list(reversed(subjects)), 0.3, seed=1)
    assert first == again and sum(v == "val" for v in first.values()) == 3
    assert set(split_subjects(subjects, 1.0, 0).values()) == {"val"}
    assert sorted(split_subjects(["a", "b"], 0.01, 0).values()) == ["train", "val"]  # both sides non-empty


def test_expert_csv_labels_go_through_the_same_writer(write_edf, tmp_path):
    channels = {name: sine(10, 20.0, amplitude=20, phase=i) for i, name in enumerate(["Fp1", "F7", "T7", "P7", "O1", "C3", "F3"])}
    recording = write_edf(channels, name="lab01_night.edf")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(
        "recording,channels,start_s,end_s,class\n"
        "lab01_night.edf,F7;T7,2.0,2.2,Spike\n"
        "lab01_night,Fp1-F7,12.5,13.4,K-complex\n"
        "lab01_night,C3,4.0,3.0,spike\n"
        "lab01_night,C3,4.0,5.0,alpha squeak\n"
    )
    labels, problems = read_label_csv(csv_path)
    assert [row["class"] for row in labels["lab01_night"]] == ["spike", "k_complex"]
    assert len(problems) == 2 and "not after" in problems[0] and "unknown class" in problems[1]
    report = write_yolo_dataset([recording], tmp_path / "ds", labels_csv=csv_path, val_fraction=0.0, progress=False)
    assert report.label_source == {"lab01_night": "csv"} and report.pages == {"train": 2, "val": 0}
    lines = (tmp_path / "ds" / "labels" / "train" / "lab01_night_000000000.txt").read_text().split()
    assert lines[0] == str(WAVEFORM_CLASSES.index("spike"))
    index = [json.loads(line) for line in (tmp_path / "ds" / "boxes.jsonl").read_text().splitlines()]
    spike = index[0]["boxes"][0]
    assert spike["channels"] == ["Fp1-F7", "F7-T7", "T7-P7"] and spike["start_s"] == pytest.approx(1.94)
    assert index[1]["boxes"][0]["label"] == "k_complex"


def test_edf_annotations_naming_a_class_become_labels(write_edf, tmp_path):
    channels = {name: sine(10, 10.0, amplitude=20) for name in ["Fp1", "F7", "T7", "F3", "C3", "Fz", "Cz"]}
    annotations = [(1.0, 0.1, "Spike: C3"), (3.0, 0.0, "sleep spindle @ Cz"), (5.0, 0.8, "K complex"),
                   (7.0, 0.0, "eyes closed"), (8.0, 0.1, "spike: O2")]  # fmt: skip
    recording = write_edf(channels, name="ann02_x.edf", annotations=annotations)
    report = write_yolo_dataset([recording], tmp_path / "ds", val_fraction=0.0, progress=False)
    assert report.label_source == {"ann02_x": "edf annotations"}
    index = json.loads((tmp_path / "ds" / "boxes.jsonl").read_text().splitlines()[0])
    assert [(b["label"], b["channels"]) for b in index["boxes"]] == [
        ("spike", ["F3-C3"]),  # C3 appears in the double banana only as F3-C3 here (no P3)
        ("sleep_spindle", ["Fz-Cz"]),
        ("k_complex", ["Fp1-F7", "F7-T7", "Fp1-F3", "F3-C3", "Fz-Cz"]),  # no channels: all of them
    ]
    assert any("O2" in p and "ann02_x" in p for p in report.problems)  # not on the page: said, not dropped


def test_annotation_parsing_and_class_aliases():
    parsed = labels_from_annotations([
        Annotation(onset_s=1.0, duration_s=0.0, description="spike C3 C4"),
        Annotation(onset_s=2.0, duration_s=0.5, description="POSTS"),
        Annotation(onset_s=3.0, duration_s=1.0, description="Lights off"),
    ])  # fmt: skip
    assert [(p["class"], p["channels"]) for p in parsed] == [("spike", ["C3", "C4"]), ("posts", [])]
    assert parsed[0]["onset_s"] == pytest.approx(0.9) and parsed[0]["offset_s"] == pytest.approx(1.1)
    assert canonical_class("Spike-and-wave") == "spike_and_slow_wave" and canonical_class("vertex sharp wave") == "vertex_wave"
    assert canonical_class("alpha") is None


def test_recordings_without_labels_are_reported_not_dropped(write_edf, tmp_path):
    recording = write_edf({"C3": np.zeros(2000) + sine(10, 10.0), "C4": sine(9, 10.0)}, name="nolab_1.edf")
    report = write_yolo_dataset([recording, tmp_path / "missing.edf"], tmp_path / "ds", progress=False)
    assert "no labels" in report.skipped[str(recording)]
    assert any("missing.edf" in p for p in report.problems)


def test_varied_pages_span_montages_rows_and_sensitivities_and_say_so(simulated, tmp_path):
    from cerebragloss.detection.dataset import PageVariety

    variety = PageVariety(variants=6, seed=1)
    write_yolo_dataset(simulated, tmp_path, val_fraction=0.4, seed=0, variety=variety, progress=False)
    index = [json.loads(line) for line in (tmp_path / "boxes.jsonl").read_text().splitlines()]
    assert len(index) == 30  # each page drawn once, in one of its recording's variants
    kinds = {(p["montage"], p["electrodes"], p["sensitivity_uv_per_mm"]) for p in index}
    assert len({k[0] for k in kinds}) >= 3 and len({k[1] for k in kinds}) >= 4 and len({k[2] for k in kinds}) >= 3
    for page in index:
        layout = page["layout"]
        assert 1 <= len(layout["channels"]) <= 19
        if page["montage"] in ("as_recorded", "average"):
            assert len(layout["channels"]) == page["electrodes"]
        png = tmp_path / "images" / page["split"] / f"{page['page']}.png"
        from PIL import Image

        image = Image.open(png)
        assert image.size == (layout["width"], layout["height"])
        assert image.info["montage"] == page["montage"] and float(image.info["sensitivity_uv_per_mm"]) == page["sensitivity_uv_per_mm"]
    coverage = json.loads((tmp_path / "dataset.json").read_text())["coverage"]
    rows = [len(p["layout"]["channels"]) for p in index]
    assert coverage["rows"] == [min(rows), max(rows)]
    assert coverage["montages"] == sorted({p["montage"] for p in index})
    assert coverage["sensitivity_uv_per_mm"] == [min(k[2] for k in kinds), max(k[2] for k in kinds)]


def test_grid_draws_every_montage_an_electrode_count_allows(simulated, tmp_path):
    from cerebragloss.detection.dataset import PageVariety

    variety = PageVariety(grid=True, variants_per_page=13, electrode_counts=[1, 4, 8, 19], seed=2)
    write_yolo_dataset(simulated[:1], tmp_path, val_fraction=1.0, variety=variety, progress=False)
    index = [json.loads(line) for line in (tmp_path / "boxes.jsonl").read_text().splitlines()]
    cells = {(p["montage"], p["electrodes"]) for p in index}
    # one electrode: only as recorded (no average of one, no pair); 4, 8, 19: every montage
    assert {m for m, k in cells if k == 1} == {"as_recorded"}
    for count in (4, 8, 19):
        assert {m for m, k in cells if k == count} == {"as_recorded", "average", "longitudinal_bipolar", "transverse_bipolar"}
    assert len(index) == 6 * 13  # every page in every cell


def test_hybrid_recording_keeps_the_expert_labels_of_its_real_background(tmp_path, write_edf):
    from cerebragloss.signals.simulate import inject_into_recording

    # A "real" recording with one scored spindle at 3 s, as sleep/events.csv scores SPINKY.
    t = np.arange(2000) / 200.0
    c3 = 5 * np.random.default_rng(0).normal(size=2000) + np.where((t > 3) & (t < 4), 25 * np.sin(2 * np.pi * 13 * t), 0)
    source = write_edf({"C3": c3}, name="scored.edf")
    hybrid = inject_into_recording(source, tmp_path / "hybrid" / "scored_hybrid.edf", state="n2",
                                   settings=SimulationSettings(events_per_page=0.0, artifacts_per_page=0.0))  # fmt: skip
    csv_path = tmp_path / "events.csv"
    csv_path.write_text("recording,channels,start_s,end_s,class\nscored,C3,3.0,4.0,sleep_spindle\n")
    report = write_yolo_dataset([hybrid], tmp_path / "data", labels_csv=csv_path, val_fraction=0.0, montage="as_recorded", progress=False)
    assert report.label_source == {"scored_hybrid": "simulator truth + csv"}
    (page,) = [json.loads(line) for line in (tmp_path / "data" / "boxes.jsonl").read_text().splitlines()]
    assert [(b["label"], b["channels"], b["start_s"]) for b in page["boxes"]] == [("sleep_spindle", ["C3"], 2.94)]


def test_the_vlm_bench_subjects_are_never_in_detector_training(simulated, tmp_path):
    # The detector is scored on the VLM's benchmark pages: its split comes from the VLM's one split
    # function (shards.detector_split), so a small val share cannot put a bench subject in train.
    from cerebragloss.shards import SplitSettings
    from cerebragloss.shards import split_subjects as vlm_split

    write_yolo_dataset(simulated, tmp_path, val_fraction=0.2, seed=0, progress=False)
    subjects = json.loads((tmp_path / "dataset.json").read_text())["subjects"]
    bench = {s for s, side in vlm_split(subjects, SplitSettings(seed=0).fractions(), 0).items() if side == "bench"}
    trained_on = {p.stem.split("_")[0] for p in (tmp_path / "images" / "train").glob("*.png")}
    assert bench and trained_on and not bench & trained_on
    assert {s for s, side in subjects.items() if side == "val"} == bench  # 0.2 of 5 subjects: the bench one


def test_the_label_audit_finds_buried_boxes_only_where_the_background_rule_is_off(simulated, tmp_path):
    """`tools/detector_dataset.py --audit`: every box is traced to its truth event and measured;
    the labelling rule (half the background's peak-to-peak) leaves no box the audit calls buried."""
    from cerebragloss.detection.audit import audit_labels
    from cerebragloss.detection.truth import BoxSettings

    folder = simulated[0].parent
    audits = {}
    for ratio in (0.0, 0.5):
        write_yolo_dataset(simulated, tmp_path / str(ratio), val_fraction=0.4, box_settings=BoxSettings(min_background_ratio=ratio), progress=False)
        audits[ratio] = audit_labels(tmp_path / str(ratio), folder, imgsz=640)
    for audit in audits.values():
        assert audit.boxes and audit.unmatched == 0
        assert all(0 < b.width_px < 640 and 0 < b.height_px < 640 for b in audit.boxes)
    assert any(b.signal_to_background < 0.5 for b in audits[0.0].boxes)
    assert all(b.signal_to_background >= 0.5 for b in audits[0.5].boxes)
    assert len(audits[0.5].boxes) < len(audits[0.0].boxes)
    assert "sleep_spindle" in audits[0.0].table() or "spike" in audits[0.0].table()


def test_relabelling_gives_the_writers_boxes_back_and_a_stricter_rule_keeps_only_what_stands_out(simulated, tmp_path):
    """`relabel_dataset` redraws boxes on the same pages: under the writer's own settings it gives
    its boxes (and label lines) back; under a stricter background rule every box left stands out
    of its background, and the images are the same files."""
    from cerebragloss.detection.audit import audit_labels
    from cerebragloss.detection.dataset import relabel_dataset
    from cerebragloss.detection.truth import BoxSettings

    folder = simulated[0].parent
    written = tmp_path / "written"
    write_yolo_dataset(simulated, written, val_fraction=0.4, box_settings=BoxSettings(min_background_ratio=0.5), progress=False)
    same = relabel_dataset([written], [folder], tmp_path / "same", box_settings=BoxSettings(min_background_ratio=0.5), progress=False)
    assert (tmp_path / "same" / "boxes.jsonl").read_text() == (written / "boxes.jsonl").read_text()
    for split in ("train", "val"):
        before, after = _labels(written / "labels" / split), _labels(tmp_path / "same" / "labels" / split)
        assert before.keys() == after.keys()
        for page, lines in before.items():
            old = np.array([line.split() for line in lines], float).reshape(-1, 5)
            assert np.allclose(old, np.array([line.split() for line in after[page]], float).reshape(-1, 5), atol=1e-4)
    assert same["pages"] == json.loads((written / "dataset.json").read_text())["pages"]

    strict = relabel_dataset([written], [folder], tmp_path / "strict", box_settings=BoxSettings(min_background_ratio=1.0), progress=False)
    audit = audit_labels(tmp_path / "strict", folder)
    assert audit.boxes and audit.unmatched == 0 and all(b.signal_to_background >= 1.0 for b in audit.boxes)
    assert sum(map(sum, (c.values() for c in strict["boxes"].values()))) < sum(map(sum, (c.values() for c in same["boxes"].values())))
    assert strict["box_settings"]["min_background_ratio"] == 1.0 and strict["relabelled_from"] == [str(written)]
    image = next((written / "images" / "train").glob("*.png"))
    assert (tmp_path / "strict" / "images" / "train" / image.name).read_bytes() == image.read_bytes()


def test_random_offsets_cut_each_variants_pages_later_and_their_boxes_follow_the_events(simulated, tmp_path):
    """``random_offsets`` draws the same variants, but each variant's pages start at its own time
    within the first page; every box still sits on its truth event (margin included) in recording
    time, so the labels follow the cut."""
    from cerebragloss.detection.dataset import PAGE_S, PageVariety
    from cerebragloss.detection.truth import BoxSettings
    from cerebragloss.signals.simulate import truth_path

    def pages(folder, **options):
        write_yolo_dataset(simulated, folder, val_fraction=0.4, seed=0, variety=PageVariety(variants=3, seed=1, **options), progress=False)
        return [json.loads(line) for line in (folder / "boxes.jsonl").read_text().splitlines()]

    plain, moved = pages(tmp_path / "plain"), pages(tmp_path / "moved", random_offsets=True)
    kinds = lambda index: {(p["recording"], p["montage"], p["electrodes"], p["sensitivity_uv_per_mm"]) for p in index}  # noqa: E731
    assert kinds(moved) == kinds(plain)  # the same variants, drawn at other cuts
    assert all(p["start_s"] % PAGE_S == 0 for p in plain)
    offsets = {round(p["start_s"] % PAGE_S, 2) for p in moved}
    assert len(offsets) >= 5 and all(0 <= o < PAGE_S for o in offsets)  # 5 recordings x 3 variants, each its own cut
    margin = BoxSettings().margin_s
    truth = {path.stem: json.loads(truth_path(path).read_text())["events"] for path in simulated}
    boxes = [(p, b) for p in moved for b in p["boxes"]]
    assert len(boxes) > 20
    for page, box in boxes:
        start, end = page["start_s"] + box["start_s"], page["start_s"] + box["end_s"]
        assert -1e-6 <= box["start_s"] and box["end_s"] <= PAGE_S + 1e-6
        assert any(e["class"] == box["label"] and e["onset_s"] - margin - 0.01 <= start and end <= e["offset_s"] + margin + 0.01
                   for e in truth[page["recording"]]), (page["page"], box)  # fmt: skip
