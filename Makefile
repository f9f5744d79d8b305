# The two commands of the README: `make test` and `make demo`.
# Both create .venv and install what is missing first (idempotent, fast on rerun).
PY := .venv/bin/python
comma := ,
SEQUENCES ?= $(wildcard ../shared/data/sequences)
NANOTRACK ?= $(wildcard ../shared/models/nanotrack)
DEMO_DIR ?= demo_output
# make reference-model DATA=DIR: DIR holds train/ (and val/ to evaluate on) of
# OTB- or GOT-10k-layout sequences.
DATA ?= ../shared/data/real
REF_DIR ?= output/reference_mnv2_FPN
# make demo CONFIG=configs/CPU/guided_ssd_mnv2_FPN.yaml: the demo training with the
# one-stage tracker (empty: the two-stage CPU config).
CONFIG ?=
# make ablations: paper Table 1 for this config, 3 seeds (real val + synthetic test;
# needs DATA/train and DATA/val), next to the two-stage model with the same budget.
TABLE1_CONFIG ?= configs/CPU/guided_ssd_mnv2_FPN.yaml
TABLE1_DIR ?= output/table1_ssd

.PHONY: install test demo reference-model ablations bench clean

install:
	bash scripts/install.sh

test: install
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m guided_tracking.demo --output $(DEMO_DIR) $(if $(SEQUENCES),--sequences $(SEQUENCES),) \
		$(if $(NANOTRACK),--nanotrack-dir $(NANOTRACK),) $(if $(CONFIG),--config-file $(CONFIG),)

# Retrain the shipped reference model (hours on a 2-core CPU; rerun to resume),
# evaluate its fp16 export (in REF_DIR) on DATA/val and SEQUENCES, and only then
# write weights + model card into guided_tracking/model_zoo/.
reference-model: install
	$(PY) train_net.py --config-file configs/CPU/reference_mnv2_FPN.yaml --resume \
		OUTPUT_DIR $(REF_DIR) DATASETS.ROOT $(REF_DIR)/data \
		DATASETS.FOLDERS '("real_train=$(abspath $(DATA))/train",)'
	$(PY) -m guided_tracking.model_zoo.export --run-dir $(REF_DIR) --data $(DATA) --no-card --output-dir $(REF_DIR)
	$(PY) bench/eval_real.py --weights $(REF_DIR)/reference_mnv2_FPN.pth --name ours \
		--weights $(REF_DIR)/model_final.pth --name ours-fp32 --curve-of $(REF_DIR) --output $(REF_DIR)/eval \
		--config-file configs/CPU/reference_mnv2_FPN.yaml --val-root $(DATA)/val \
		$(if $(SEQUENCES),--dev-root $(SEQUENCES),--sets val) \
		--baselines csrt,kcf$(if $(NANOTRACK),$(comma)nano --nanotrack-dir $(NANOTRACK),)
	$(PY) -m guided_tracking.model_zoo.export --run-dir $(REF_DIR) --data $(DATA) \
		--eval-summary $(REF_DIR)/eval/summary.json --eval-name ours

ablations: install
	$(PY) bench/table1.py --config-file $(TABLE1_CONFIG) --seeds 0,1,2 --max-iter 300 --output $(TABLE1_DIR) \
		--val-root $(DATA)/val --real-train $(DATA)/train \
		--compare-config configs/CPU/guided_rcnn_mnv2_FPN.yaml --compare-iters 280

bench: install
	$(PY) bench/bench_maml.py
	$(PY) bench/bench_loader.py
	$(PY) bench/bench_tracker.py

clean:
	rm -rf $(DEMO_DIR) output
