# CerebraGloss. `make help` lists the targets. Everything installs into .venv; caches stay in .cache.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# deepspeed's CUDA ops are compiled just in time on a GPU machine; skip building them at install.
export DS_BUILD_OPS := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup test test-all demo bench lint clean detector learn ablations

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: $(VENV)/.installed  ## create .venv and install the project with its dev extras

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

test: setup  ## set up, then run the fast CPU test suite
	$(BIN)/python -m pytest

test-all: setup  ## set up, then run every test including the slow ones (not gpu)
	$(BIN)/python -m pytest -m "not gpu"

demo: setup  ## set up, then run the main job on built-in defaults (simulated EEG)
	$(BIN)/python tools/demo.py --out demo_output

bench: setup  ## set up, then print the benchmark tables
	$(BIN)/python tools/bench_render.py
	$(BIN)/python tools/bench_engine.py
	$(BIN)/python tools/bench_synthesis.py
	$(BIN)/python tools/bench_training.py

# Does a model trained by the framework read the page? Simulated subjects, stage 0 -> 1 -> 2 with
# the small preset, held-out subjects, against an image-blind control (tools/learn.py).
learn: setup  ## train from scratch on simulated EEG and print the learning table (learn_output/learning.json)
	nice -n 10 $(BIN)/python tools/learn.py --out learn_output

ablations: setup  ## the paper's ablation rows and the stage-1 fraction sweep on the learn data (after make learn)
	nice -n 10 $(BIN)/python tools/learn.py --out learn_output --ablations --sweep

# The default detector (cerebragloss/detection/weights/cerebragloss-yolo-sim.pt) is rebuilt by
# `make detector`: 40 simulated training subjects plus the simulator's events injected into every
# real recording in $(REAL_EEG) (hybrid mode; the SPINKY test and K-complex files are kept out: the
# engine is scored on them), pages drawn in every montage, 1-19 electrodes, 5-15 uV/mm; fine-tuned
# from the current default weights; scored on 12 held-out simulated subjects drawn in every
# (montage, 1/4/8/19 electrodes) cell: one table of mAP@0.5 by montage and channel count.
DETECTOR_WORK := .cache/detector
REAL_EEG ?= ../shared/data/eeg
SIM_DETECTOR := --minutes 2.5 --set events_per_page=2.5
AWAKE_REAL := $(REAL_EEG)/eegmat/Subject00_1.edf $(REAL_EEG)/eegmat/Subject00_2.edf $(REAL_EEG)/eegbci/S001R03.edf \
	$(REAL_EEG)/nihon_kohden/MB0400FU.EDF $(REAL_EEG)/bdf/multiple_annotation_chans.bdf \
	$(REAL_EEG)/edf/test_edf_overlapping_annotations.edf
SLEEP_REAL := $(REAL_EEG)/sleep/spinky_c3_train.edf
# Training time, not epochs, is the budget: ultralytics fits the epochs to it after the first one.
DETECTOR_HOURS ?= 1.0
detector: setup  ## rebuild the default detector (~75 min on 2 CPU cores) and print its held-out table
	rm -rf $(DETECTOR_WORK)/sim $(DETECTOR_WORK)/data $(DETECTOR_WORK)/run $(DETECTOR_WORK)/heldout_sim $(DETECTOR_WORK)/heldout
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim --subjects 40 --seed 11 $(SIM_DETECTOR)
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim --background $(AWAKE_REAL) --state awake --seed 21 --set events_per_page=2.5
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim --background $(SLEEP_REAL) --state n2 --seed 31 --set events_per_page=2.5
	$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/sim --out $(DETECTOR_WORK)/data --vary --val-fraction 0.1 \
		--labels $(REAL_EEG)/sleep/events.csv
	$(BIN)/python tools/train_detector.py --data $(DETECTOR_WORK)/data --out $(DETECTOR_WORK)/run \
		--model cerebragloss/detection/weights/cerebragloss-yolo-sim.pt --set lr0=0.0015 time=$(DETECTOR_HOURS)
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/heldout_sim --subjects 12 --seed 99 --prefix heldout $(SIM_DETECTOR)
	$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/heldout_sim --out $(DETECTOR_WORK)/heldout --val-fraction 1 \
		--grid --variants-per-page 4 --electrode-counts 1,4,8,19
	$(BIN)/python tools/train_detector.py --evaluate $(DETECTOR_WORK)/run/detector.pt --data $(DETECTOR_WORK)/heldout --by-montage \
		--baseline cerebragloss/detection/weights/cerebragloss-yolo-sim.pt
	mkdir -p cerebragloss/detection/weights
	cp $(DETECTOR_WORK)/run/detector.pt cerebragloss/detection/weights/cerebragloss-yolo-sim.pt
	cp $(DETECTOR_WORK)/run/detector.coverage.json cerebragloss/detection/weights/cerebragloss-yolo-sim.coverage.json

lint: setup  ## ruff over the project
	$(BIN)/ruff check cerebragloss datamodules lit_modules callbacks tools tests

clean:  ## remove outputs and caches (keeps .venv)
	rm -rf demo_output learn_output .cache .pytest_cache
