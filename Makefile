# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-common.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# `make demo IMAGES='photos/*.jpg'` also segments your own images.
demo: $(STAMP)
	$(PY) -m tools.demo --output_dir=runs/demo $(if $(IMAGES),--images='$(IMAGES)')

test: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

clean:
	rm -rf runs
