# heartbench: `make demo` runs the main job end to end, `make test` runs the test suite.
# Both create the virtual environment .venv and install heartbench into it first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
USERS ?= 20
RUN_TIME ?= 60s

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(BIN)/locust -f loadtests/heartbeat.py --headless -u $(USERS) -r $(USERS) -t $(RUN_TIME)

test: setup
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python scripts/bench_emulator.py
	$(BIN)/python scripts/bench_detector.py
	$(BIN)/python scripts/bench_telemetry.py
	$(BIN)/python scripts/bench_collectors.py

clean:
	rm -rf $(VENV) build *.egg-info
