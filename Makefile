# CerebraGloss. `make help` lists the targets. Everything installs into .venv; caches stay in .cache.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# deepspeed's CUDA ops are compiled just in time on a GPU machine; skip building them at install.
export DS_BUILD_OPS := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup test test-all demo bench lint clean detector detector-data detector-gpu-data learn ablations

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
# engine is scored on them; so is eegbci S001R03, see AWAKE_REAL), plus $(DETECTOR_MORE_SUBJECTS) more
# simulated subjects (pages are cheap, and a CPU run overfits a few hundred: train loss falls while
# held-out loss stays), drawn in every montage, 1-19 electrodes, 5-15 uV/mm; fine-tuned from
# $(DETECTOR_START) for $(DETECTOR_HOURS) h on $(DETECTOR_DEVICE) at $(DETECTOR_IMGSZ) px; scored on 12 held-out simulated subjects drawn in every
# (montage, 1/4/8/19 electrodes) cell: one table of mAP@0.5 by montage and channel count, for the new
# and the current default weights on the same pages. The new weights replace the default only if they
# score higher over all pages and not lower on the double banana with 19 electrodes (--promote), and
# keep <= 0.1 false epileptiform findings/min on every real awake recording x montage, no more than now.
#   make detector DETECTOR_HOURS=1 DETECTOR_DEVICE=cpu       (one CPU core: taskset -c 1 make ...)
#   make detector DETECTOR_HOURS=0.2 DETECTOR_DEVICE=0       (a GPU; or tools/gpu_checks.sh --detector)
DETECTOR_WORK := .cache/detector
REAL_EEG ?= ../shared/data/eeg
SIM_DETECTOR := --minutes 2.5 --set events_per_page=2.5
# training pages also carry short muscle bursts as unlabelled background (README: they were the
# false polyspikes on real awake EEG); the held-out pages stay as they were
SIM_DETECTOR_TRAIN := --minutes 2.5 --set events_per_page=2.5 muscle_bursts_per_page=1.5
# eegbci S001R03 is left out of the hybrids: the promotion guard's real awake check (and
# `score_engine --real --stress`) keeps one healthy awake recording no detector trained on
AWAKE_REAL := $(REAL_EEG)/eegmat/Subject00_1.edf $(REAL_EEG)/eegmat/Subject00_2.edf \
	$(REAL_EEG)/nihon_kohden/MB0400FU.EDF $(REAL_EEG)/bdf/multiple_annotation_chans.bdf \
	$(REAL_EEG)/edf/test_edf_overlapping_annotations.edf
SLEEP_REAL := $(REAL_EEG)/sleep/spinky_c3_train.edf
DETECTOR_MORE_SUBJECTS ?= 240
# Training time, not epochs, is the budget: ultralytics fits the epochs to it after the first one.
DETECTOR_HOURS ?= 1.0
DETECTOR_DEVICE ?= cpu
# 640: measured against native 1344 px at equal CPU time (README, detector section)
DETECTOR_IMGSZ ?= 640
DETECTOR_START ?= cerebragloss/detection/weights/cerebragloss-yolo-sim.pt
DETECTOR_WORKERS ?= 1
DEFAULT_DETECTOR := cerebragloss/detection/weights/cerebragloss-yolo-sim.pt

detector-data: setup  ## simulate and draw the detector's training and held-out pages (.cache/detector)
	rm -rf $(DETECTOR_WORK)/sim $(DETECTOR_WORK)/sim_more $(DETECTOR_WORK)/data $(DETECTOR_WORK)/heldout_sim $(DETECTOR_WORK)/heldout
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim --subjects 40 --seed 11 $(SIM_DETECTOR_TRAIN)
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim --background $(AWAKE_REAL) --state awake --seed 21 --set events_per_page=2.5 muscle_bursts_per_page=2.0
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim --background $(SLEEP_REAL) --state n2 --seed 31 --set events_per_page=2.5
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim_more --subjects $(DETECTOR_MORE_SUBJECTS) --seed 12 --prefix simb $(SIM_DETECTOR_TRAIN)
	$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/sim $(DETECTOR_WORK)/sim_more --out $(DETECTOR_WORK)/data --vary \
		--val-fraction 0.05 --labels $(REAL_EEG)/sleep/events.csv
	$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/heldout_sim --subjects 12 --seed 99 --prefix heldout $(SIM_DETECTOR)
	$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/heldout_sim --out $(DETECTOR_WORK)/heldout --val-fraction 1 \
		--grid --variants-per-page 4 --electrode-counts 1,4,8,19

# The wide model's GPU pages (README, "On a GPU, the third time"): detector-data's, a second draw of
# page variants of the same recordings, three more event draws on the awake real backgrounds, and
# those backgrounds as other heads (x0.6 / x1.6, plain and mirrored, as W2S was trained on), packed
# into four parts of ~40 MiB that four device calls carry (tools/gpu_checks.sh)
detector-gpu-data: detector-data  ## the detector's GPU training pages, packed into .gpu/ for tools/gpu_checks.sh
	rm -rf $(DETECTOR_WORK)/data_draw2 $(DETECTOR_WORK)/sim_hyb2? $(DETECTOR_WORK)/data_hyb2? $(DETECTOR_WORK)/sim_heads $(DETECTOR_WORK)/data_heads .gpu
	$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/sim $(DETECTOR_WORK)/sim_more --out $(DETECTOR_WORK)/data_draw2 --vary \
		--variety-seed 7 --val-fraction 0.05 --labels $(REAL_EEG)/sleep/events.csv
	for seed in 22 23 24; do \
		$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim_hyb$$seed --background $(AWAKE_REAL) --state awake --seed $$seed \
			--set events_per_page=2.5 muscle_bursts_per_page=2.0 && \
		$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/sim_hyb$$seed --out $(DETECTOR_WORK)/data_hyb$$seed --vary \
			--variants-per-page 4 --val-fraction 0.05 || exit 1; \
	done
	for amplitude in 0.6 1.6; do for mirror in "" --mirror; do \
		$(BIN)/python tools/simulate.py --out $(DETECTOR_WORK)/sim_heads --background $(AWAKE_REAL) --state awake --seed 25 \
			--amplitude $$amplitude $$mirror --set events_per_page=2.5 muscle_bursts_per_page=2.0 || exit 1; \
	done; done
	$(BIN)/python tools/detector_dataset.py $(DETECTOR_WORK)/sim_heads --out $(DETECTOR_WORK)/data_heads --vary --variants-per-page 4 --val-fraction 0
	$(BIN)/python tools/pack_detector_data.py $(DETECTOR_WORK)/data --add-train $(DETECTOR_WORK)/data_draw2 $(DETECTOR_WORK)/data_hyb22 \
		$(DETECTOR_WORK)/data_hyb23 $(DETECTOR_WORK)/data_hyb24 $(DETECTOR_WORK)/data_heads --out .gpu --parts 4

detector: detector-data  ## train the default detector further, print its held-out table, keep it if better
	rm -rf $(DETECTOR_WORK)/run
	$(BIN)/python tools/train_detector.py --data $(DETECTOR_WORK)/data --out $(DETECTOR_WORK)/run --model $(DETECTOR_START) \
		--imgsz $(DETECTOR_IMGSZ) --device $(DETECTOR_DEVICE) --set lr0=0.001 warmup_epochs=0.2 time=$(DETECTOR_HOURS) workers=$(DETECTOR_WORKERS)
	$(BIN)/python tools/train_detector.py --evaluate $(DETECTOR_WORK)/run/detector.pt --data $(DETECTOR_WORK)/heldout --by-montage \
		--device $(DETECTOR_DEVICE) --baseline $(DEFAULT_DETECTOR) --promote --real-awake $(REAL_EEG)

lint: setup  ## ruff over the project
	$(BIN)/ruff check cerebragloss datamodules lit_modules callbacks tools tests

clean:  ## remove outputs and caches (keeps .venv)
	rm -rf demo_output learn_output .cache .pytest_cache
