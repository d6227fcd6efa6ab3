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
# `make detector`: simulate 40 training subjects, train, then score on 12 held-out subjects.
DETECTOR_WORK := .cache/detector
SIM_DETECTOR := --minutes 2.5 --set events_per_page=2.5
detector: setup  ## rebuild the default detector from simulated pages (~70 min on 2 CPU cores) and score it
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim --subjects 40 --seed 11 $(SIM_DETECTOR)
	$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/sim --out $(DETECTOR_WORK)/data
	$(BIN)/python tools/train_detector.py --data $(DETECTOR_WORK)/data --out $(DETECTOR_WORK)/run --epochs 60
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/heldout_sim --subjects 12 --seed 99 --prefix heldout $(SIM_DETECTOR)
	$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/heldout_sim --out $(DETECTOR_WORK)/heldout --val-fraction 1
	$(BIN)/python tools/train_detector.py --evaluate $(DETECTOR_WORK)/run/detector.pt --data $(DETECTOR_WORK)/heldout --events
	mkdir -p cerebragloss/detection/weights
	cp $(DETECTOR_WORK)/run/detector.pt cerebragloss/detection/weights/cerebragloss-yolo-sim.pt

lint: setup  ## ruff over the project
	$(BIN)/ruff check cerebragloss datamodules lit_modules callbacks tools tests

clean:  ## remove outputs and caches (keeps .venv)
	rm -rf demo_output learn_output .cache .pytest_cache
