# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint lock check-light bench soak clean

# Everything (vidpipe[all] and the test tools), at the versions in constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Refresh constraints.txt: the newest versions pyproject.toml allows, installed and frozen.
lock: $(STAMP)
	$(BIN)/pip install --quiet --upgrade --upgrade-strategy eager -e '.[test]'
	{ echo "# The versions make installs: pip install -c constraints.txt -e '.[test]'."; \
	  echo "# Refreshed by make lock (pip freeze of .venv, vidpipe itself left out)."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^vidpipe'; } > constraints.txt

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m vidpipe.demo

# Static checks alone: the import contracts (layers; the TUI never loads the ML stack), ruff
# (lint and format), mypy (pyproject.toml says what each checks).
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

# N randomized whole-product scenarios (tests/scenarios/test_scenarios.py) and N faults of the
# team set-up (tests/scenarios/test_fault_soak.py); SEED=S replays from seed S.
N ?= 10
soak: $(STAMP)
	$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/scenarios/test_scenarios.py \
		tests/scenarios/test_fault_soak.py -k soak \
		--soak=$(N) $(if $(SEED),--soak-seed=$(SEED))

# The core install alone (no extras) in a fresh venv: the commands and the TUI run; its size.
check-light:
	bash bench/check_light.sh

bench: $(STAMP)
	$(BIN)/python bench/contact_sheet.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/faces.py
	$(BIN)/python bench/prompts.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/watcher.py
	$(BIN)/python bench/tui.py
	$(BIN)/python bench/scaleout.py

clean:
	rm -rf $(VENV) demo-project
