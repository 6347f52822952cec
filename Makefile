# Two commands do all the set-up on a fresh machine: `make train` and `make test`.
# Each creates the virtual environment (.venv) first when it is missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install train test test-slow test-all bench bench-population tensorboard clean

install: $(STAMP)

# requirements.lock pins every package (torch and its CUDA libraries included) to the set the tests passed with.
# PYTHONWARNINGS hides setuptools' note that an editable install of this layout (conf/ mapped to gan_cli.conf)
# uses an import hook: there is nothing to act on.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet "pip>=24"
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,sweep]'
	touch $(STAMP)

train: $(STAMP)  ## the default experiment: the 1-D Gaussian (add ARGS="model=dcgan" etc.)
	$(BIN)/gan train $(ARGS)

test: $(STAMP)  ## the fast suite (CPU, nothing downloaded)
	$(BIN)/python -m pytest -m "not slow" -n auto $(ARGS)

test-slow: $(STAMP)  ## long checks: seed sweeps, real MNIST from ../shared/data when present
	$(BIN)/python -m pytest -m slow $(ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)  ## gan-cli's training rate against a bare PyTorch loop of the same networks, start-up, evaluations (one table)
	$(BIN)/python benchmarks/speed.py $(ARGS)

bench-population: $(STAMP)  ## many seeds at once (population=K) against the same seeds run one after another
	PATH=$(abspath $(BIN)):$$PATH bash benchmarks/population.sh $(ARGS)

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir outputs

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
