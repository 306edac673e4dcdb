# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: demo test test-slow venv clean

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tools.model_info --flagfile=flags/synthetic_v3.flags --input_size=513

test: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

test-slow: $(STAMP)
	$(PY) -m pytest -q -n 2 -m slow tests

clean:
	rm -rf runs
