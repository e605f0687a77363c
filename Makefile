# sudo make demo | sudo make test | sudo make bench
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint unit integration bench clean-lab

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/vpclab demo

test: setup lint
	$(PY) -m pytest tests

lint: setup
	$(VENV)/bin/ruff check .

unit: setup
	$(PY) -m pytest tests/unit

integration: setup
	$(PY) -m pytest tests/integration

bench: setup
	$(VENV)/bin/vpclab regress

clean-lab: setup
	$(VENV)/bin/vpclab down
