# Two commands set everything up on a fresh machine: `make serve` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
MODEL_BASE_PATH ?= models
MODEL_NAME ?= deepfake
export MODEL_BASE_PATH MODEL_NAME
# Quiet TensorFlow's C++ start-up chatter.
export TF_CPP_MIN_LOG_LEVEL ?= 2
PYTEST_ARGS ?=

.PHONY: venv model serve test test-fast lint bench clean postgresql

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

venv: $(STAMP)

# The demo model is built only when MODEL_BASE_PATH/MODEL_NAME holds no version.
model: $(STAMP)
	$(PY) -m model_export demo --if-missing

serve: model
	$(PY) -m stack

# The PostgreSQL job-store tests start a private cluster from Debian's server binaries;
# as root this installs them when missing (CI runs it before `make test`).
postgresql:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "PostgreSQL server binaries present"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	else \
		echo "PostgreSQL missing: run 'sudo apt-get install -y postgresql'" >&2; exit 1; \
	fi

test: model
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything but the slow end-to-end tests.
test-fast: model
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: model
	$(PY) -m bench

clean:
	rm -rf $(VENV) var
