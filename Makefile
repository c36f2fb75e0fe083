# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint bench soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m vidpipe.demo

# Static checks alone: the import contracts (layers; the TUI never loads the ML stack), ruff.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

# N randomized whole-product scenarios (tests/scenarios/test_scenarios.py); SEED=S replays from seed S.
N ?= 10
soak: $(STAMP)
	$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/scenarios/test_scenarios.py -k soak \
		--soak=$(N) $(if $(SEED),--soak-seed=$(SEED))

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
