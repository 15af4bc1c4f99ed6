# photoverify: `make demo` sets everything up and runs the main job on a generated sample
# library; `make test` sets up and runs the whole test suite.
VENV := .venv
PV := $(VENV)/bin/photoverify
DEMO := demo

.PHONY: setup demo test bench lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh $(DEMO)

test:
	@bash scripts/setup.sh --test
	$(VENV)/bin/python -m pytest -q

bench: setup
	@bash scripts/setup.sh --bench
	$(VENV)/bin/python -m benchmarks

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(DEMO) .pytest_cache
