# Two commands for a new user (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[tfds,test]'
	touch $(STAMP)

install: $(STAMP)

# Builds the synthetic core patches, trains a small SegNet, evaluates it on held-out sections,
# exports the SavedModel and draws its prediction on a whole held-out section; all under runs/.
demo: $(STAMP)
	$(BIN)/python -m coretf.train --flagfile=trainers/demo.flags
	$(BIN)/python -m coretf.demo --model_dir=runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) runs .pytest_cache
