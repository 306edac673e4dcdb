# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: demo demo-long test venv clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-common.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# `make demo IMAGES='photos/*.jpg'` also segments your own images.
DEMO_IMAGES = $(if $(IMAGES),--images='$(IMAGES)')
demo: $(STAMP)
	$(PY) -m tools.demo --output_dir=runs/demo $(DEMO_IMAGES)

# The same demo with v3's recipe trained longer, in runs/demo_long (docs/performance.md: 85.7% val
# mIoU at OS16 after 6,000 steps).
DEMO_LONG_STEPS ?= 6000
demo-long: $(STAMP)
	$(PY) -m tools.demo --output_dir=runs/demo_long --v3_train_steps=$(DEMO_LONG_STEPS) $(DEMO_IMAGES)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

clean:
	rm -rf runs
