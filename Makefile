# The two set-up commands: `make demo` (run the job on the demo stack) and `make test`.
PYTHON ?= python3
PYTEST = $(PYTHON) -m pytest

.PHONY: deps engine browser secrets demo test lint

deps:
	$(PYTHON) scripts/install-deps

engine:
	scripts/bootstrap-engine

browser:
	scripts/install-browser

secrets:
	examples/freshtrack/scripts/make-secrets

demo: deps engine secrets
	scripts/demo

test: deps engine browser
	$(PYTEST) tests -p no:randomly

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
