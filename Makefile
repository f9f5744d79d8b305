# The two commands of the README: `make test` and `make demo`.
# Both create .venv and install what is missing first (idempotent, fast on rerun).
PY := .venv/bin/python
SEQUENCES ?= $(wildcard ../shared/data/sequences)
DEMO_DIR ?= demo_output

.PHONY: install test demo ablations bench clean

install:
	bash scripts/install.sh

test: install
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m guided_tracking.demo --output $(DEMO_DIR) $(if $(SEQUENCES),--sequences $(SEQUENCES),)

ablations: install
	$(PY) bench/ablations.py --demo-output $(DEMO_DIR) --split val
	$(PY) bench/ablations.py --demo-output $(DEMO_DIR) --split test

bench: install
	$(PY) bench/bench_maml.py
	$(PY) bench/bench_loader.py
	$(PY) bench/bench_tracker.py --force-collect

clean:
	rm -rf $(DEMO_DIR) output
