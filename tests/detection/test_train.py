"""A written dataset trains in ultralytics (one tiny epoch), and the weights run in the engine."""

import json
import sys

import pytest

from cerebragloss.detection.dataset import write_yolo_dataset
from cerebragloss.detection.detector import DetectorSettings, WaveformDetector, coverage_path
from cerebragloss.detection.train import DetectorTrainSettings, resolve_model, train_detector
from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.render import render_segment
from cerebragloss.signals import read_recording, segments_from_recording
from cerebragloss.signals.simulate import SimulationSettings, simulate_recordings
from tools.train_detector import main as train_tool


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("detector")
    recordings = simulate_recordings(root / "sim", subjects=2, minutes=0.5, seed=9, settings=SimulationSettings(events_per_page=3))
    write_yolo_dataset(recordings, root / "data", val_fraction=0.5, progress=False)
    settings = DetectorTrainSettings(epochs=1, imgsz=320, batch=4, workers=0)
    # as on the GPU image, which has no polars (tools/gpu_checks.sh --detector carries none)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "polars", None)
        result = train_detector(root / "data", root / "run", settings)
    return root, recordings, result


def test_one_tiny_epoch_trains_and_reports_per_class_ap(trained):
    root, _, result = trained
    assert (root / "run" / "detector.pt").stat().st_size > 100_000
    saved = json.loads((root / "run" / "metrics.json").read_text())
    assert saved["weights"] == "detector.pt" and set(saved["ap50"]) == set(WAVEFORM_CLASSES)
    assert 0.0 <= saved["map50"] <= 1.0 and saved["settings"]["fliplr"] == 0.0
    assert (root / "run" / "train_settings.yaml").exists()


def test_training_needs_no_polars_and_the_weights_infer_at_the_size_they_were_trained_at(trained):
    import torch

    root, _, _ = trained
    checkpoint = torch.load(root / "run" / "train" / "weights" / "last.pt", weights_only=False)
    assert checkpoint["train_results"]["epoch"] == [1.0]  # results.csv read without polars
    assert json.loads(coverage_path(root / "run" / "detector.pt").read_text())["imgsz"] == 320
    assert WaveformDetector(root / "run" / "detector.pt").imgsz == 320  # not the 640 default
    assert WaveformDetector(root / "run" / "detector.pt", DetectorSettings(imgsz=640)).imgsz == 640  # unless set


def test_trained_weights_detect_pages_and_events_carry_layout_regions(trained):
    root, recordings, _ = trained
    recording = read_recording(recordings[0])
    pages = [render_segment(s) for s in segments_from_recording(recording, "longitudinal_bipolar")]
    detector = WaveformDetector(root / "run" / "detector.pt", DetectorSettings(confidence=0.0, imgsz=320, batch=2))
    found = detector.detect(pages)
    assert len(found) == len(pages)
    events = [e for page in found for e in page]
    assert events  # with confidence 0 an untrained model still proposes boxes
    for event in events:
        assert event["class"] in WAVEFORM_CLASSES and event["source"] == "detector"
        assert set(event["channels"]) <= set(pages[0].layout.channels)
        assert 0.0 <= event["start_s"] <= event["end_s"] <= 10.0


def test_the_tool_evaluates_existing_weights(trained, capsys):
    root, _, _ = trained
    assert train_tool(["--evaluate", str(root / "run" / "detector.pt"), "--data", str(root / "data"), "--imgsz", "320"]) == 0
    out = capsys.readouterr().out
    assert "mAP@0.5" in out and "sleep_spindle" in out


def test_weights_for_other_classes_are_refused(tmp_path):
    from ultralytics import YOLO

    model = YOLO(resolve_model("cerebragloss-yolo.yaml"))
    model.model.names = {0: "cat", 1: "dog"}
    path = tmp_path / "coco.pt"
    model.save(str(path))
    with pytest.raises(ValueError, match="not CerebraGloss's 9 waveform classes"):
        WaveformDetector(path)
    with pytest.raises(FileNotFoundError, match="make detector"):
        WaveformDetector(tmp_path / "nothing.pt")


def test_trained_weights_carry_their_coverage_and_say_when_a_page_is_outside(trained, tmp_path):
    import shutil

    from cerebragloss.render import RenderSettings

    root, recordings, _ = trained
    weights = root / "run" / "detector.pt"
    coverage = json.loads(coverage_path(weights).read_text())
    # The tiny set is drawn the old way: double banana, 18 rows, 10 uV/mm, 125 px/s.
    assert coverage["montages"] == ["longitudinal_bipolar"] and coverage["rows"] == [18, 18]
    assert coverage["sensitivity_uv_per_mm"] == [10.0, 10.0] and coverage["px_per_s"] == [125.0, 125.0]
    detector = WaveformDetector(weights, DetectorSettings(confidence=0.0, imgsz=320, batch=2))
    recording = read_recording(recordings[0])
    inside = [render_segment(s) for s in segments_from_recording(recording, "longitudinal_bipolar", max_segments=1)]
    (found,) = detector.detect(inside)
    assert found.coverage == {"within_training": True, "outside": []}
    assert found and not any("detector_coverage" in e for e in found)

    one_electrode = recording.__class__(**{**recording.__dict__, "data": recording.data[[recording.electrodes.index("C3")]], "electrodes": ["C3"]})
    segment = next(segments_from_recording(one_electrode, "as_recorded", max_segments=1))
    (found,) = detector.detect([render_segment(segment, RenderSettings(sensitivity_uv_per_mm=15.0))])
    assert not found.coverage["within_training"]
    reasons = " | ".join(found.coverage["outside"])
    assert "montage as_recorded" in reasons and "1 rows" in reasons and "15 uV/mm" in reasons
    assert found and all(e["detector_coverage"].startswith("outside training: ") for e in found)

    # Read back from disk: montage and sensitivity come from the PNG's metadata.
    from PIL import Image

    page = render_segment(segment, RenderSettings(sensitivity_uv_per_mm=15.0))
    (found_again,) = detector.detect_images([Image.open(page.save(tmp_path / "page.png"))], [page.layout])
    assert found_again.coverage == found.coverage

    bare = tmp_path / "bare.pt"
    shutil.copyfile(weights, bare)  # weights without a coverage file: nobody knows their pages
    (unknown,) = WaveformDetector(bare, DetectorSettings(imgsz=320)).detect(inside)
    assert not unknown.coverage["within_training"] and "bare.coverage.json" in unknown.coverage["outside"][0]


def test_rect_batches_keep_their_pages_together_but_change_order_every_epoch():
    from cerebragloss.detection.train import _BatchOrderShuffler

    sampler = _BatchOrderShuffler(size=50, batch=8, seed=0)
    epochs = [list(sampler) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(50))
        batches = [order[i : i + 8] for i in range(0, 50, 8)]
        # every batch is one of ultralytics' equal-shape groups (consecutive after the aspect sort)
        assert all(b == list(range(b[0], b[0] + len(b))) and b[0] % 8 == 0 for b in batches)
        assert batches[-1] == [48, 49]  # the partial batch stays last
    assert epochs[0] != epochs[1] != epochs[2]


def test_a_pt_model_is_fine_tuned_from_its_weights_not_from_scratch(trained, tmp_path):
    import torch

    root, _, _ = trained
    # Weights no seeded initialisation gives: the tiny fixture's are one epoch from the same
    # seeded init, which a run from scratch would reproduce.
    checkpoint = torch.load(root / "run" / "detector.pt", weights_only=False)
    checkpoint["model"].model[0].conv.weight.data += 0.5
    start = tmp_path / "start.pt"
    torch.save(checkpoint, start)
    settings = DetectorTrainSettings(model=str(start), epochs=1, imgsz=320, batch=4, workers=0, lr0=1e-9, warmup_epochs=0)
    train_detector(root / "data", tmp_path / "tuned", settings)

    def first_conv(path):
        return torch.load(path, weights_only=False)["model"].model[0].conv.weight.float()

    # With a learning rate of ~0 the weights stay where they started; ultralytics' default for
    # a .pt under pretrained=False was a fresh random network.
    torch.testing.assert_close(first_conv(tmp_path / "tuned" / "detector.pt"), first_conv(start), atol=2e-3, rtol=1e-2)


def test_the_tool_diagnoses_where_boxes_are_lost(trained, capsys):
    """`--diagnose --recordings`: the IoU-threshold, box-width and visibility tables, for weights on
    a held-out grid drawn from simulated recordings."""
    from cerebragloss.detection.dataset import PageVariety

    root, recordings, _ = trained
    grid = PageVariety(electrode_counts=[1, 4, 19], variants_per_page=3, grid=True)
    write_yolo_dataset(recordings, root / "grid", val_fraction=1.0, variety=grid, progress=False)
    weights = str(root / "run" / "detector.pt")
    assert train_tool(["--evaluate", weights, "--data", str(root / "grid"), "--diagnose", "--recordings", str(recordings[0].parent)]) == 0
    out = capsys.readouterr().out
    assert "mAP at IoU" in out and "class-agnostic" in out and "width px" in out
    assert "event/background" in out and "found >= bg" in out
