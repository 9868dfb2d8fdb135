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
# pytest-xdist workers for `make test` and `make test-fast`: one per core of the 2-core
# reference machine; each file runs whole on one worker (its module-scoped servers once).
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile
# Tools kept out of the application's venv: their pins never meet the app's lock.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp
# Reviewed vulnerabilities accepted for now: `ID  reason` lines.
AUDIT_IGNORE := audit-ignore.txt
AUDIT_IGNORED = $(shell awk '!/^[[:space:]]*(\#|$$)/ {print $$1}' $(AUDIT_IGNORE))
SOAK_SECONDS ?= 300
export SOAK_SECONDS
FUZZ_SECONDS ?= 60
export FUZZ_SECONDS

.PHONY: venv tools face-mesh model serve test test-fast lint audit bench face-recall soak fuzz k8s-check clean postgresql chromium

$(STAMP): pyproject.toml clients/python/pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]' -e 'clients/python[cli]'
	touch $@

venv: $(STAMP)

$(TOOLS_STAMP): requirements-tools.lock
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r requirements-tools.lock
	touch $@

tools: $(TOOLS_STAMP)

# Only when MODEL_BASE_PATH/MODEL_NAME holds no version: MesoNet's published weights,
# downloaded from MODEL_DEFAULT_URL (default: the authors' repository at a pinned commit,
# sha256-checked), else the synthetic demo (offline machines, CI).
model: $(STAMP)
	$(PY) -m model_export default-model

# MediaPipe's 468-point face-landmark model for self-blended training's masks: only that
# .tflite, extracted from the mediapipe wheel (pip download --no-deps into a temporary
# directory; the package is not installed) and sha256-checked. Without the file,
# self-blended training falls back to five-point masks and logs why.
FACE_MESH := var/face-mesh/face_landmark.tflite
$(FACE_MESH): | $(STAMP)
	$(PY) -m model_export.faces.face_mesh --dest $@

face-mesh: $(FACE_MESH)

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

# The web page's test drives Debian's headless Chromium over the DevTools protocol; as
# root (or through sudo) this installs it when missing.
chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "Chromium present: $$(chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif command -v sudo >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "Chromium missing: run 'sudo apt-get install -y chromium'" >&2; exit 1; \
	fi
	@# One headless start proves the browser runs here (and makes its first, slowest start
	@# outside the test's timeout); a failure is reported, and the page's test says more.
	@dir=$$(mktemp -d); sandbox=$$([ "$$(id -u)" = 0 ] && echo --no-sandbox); \
	start=$$(date +%s); \
	if HOME=$$dir DBUS_SESSION_BUS_ADDRESS=unix:path=$$dir/no-bus \
		DBUS_SYSTEM_BUS_ADDRESS=unix:path=$$dir/no-bus timeout 120 chromium $$sandbox \
		--headless=new --disable-gpu --password-store=basic --user-data-dir=$$dir/profile \
		--dump-dom about:blank >$$dir/log 2>&1; then \
		echo "Chromium starts headless ($$(( $$(date +%s) - start )) s)"; \
	else \
		echo "warning: chromium did not start headless; its output:" >&2; tail -n 30 $$dir/log >&2; \
	fi; \
	rm -rf $$dir

# The tests publish the versions they serve themselves: no `make model` first (offline it
# trains the demo, minutes no test uses).
test: $(STAMP) $(FACE_MESH) postgresql chromium
	$(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# Everything but the slow end-to-end tests.
test-fast: $(STAMP) $(FACE_MESH) postgresql
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Known vulnerabilities in every pinned package (app and tools), from PyPI's vulnerability
# data. --strict: a package that could not be checked (service unreachable, release
# unknown to it) fails the audit instead of being skipped.
audit: $(TOOLS_STAMP)
	@awk '!/^[[:space:]]*(\#|$$)/ && NF < 2 { print FILENAME ":" FNR ": " $$1 " needs a reason"; bad = 1 } \
		END { exit bad }' $(AUDIT_IGNORE)
	$(TOOLS_VENV)/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off \
		--desc on -r requirements.lock -r requirements-tools.lock \
		$(addprefix --ignore-vuln ,$(AUDIT_IGNORED))

bench: model
	$(PY) -m bench

# Keyframe schedules against face detection on every frame (about 4 minutes on 2 cores).
face-recall: $(STAMP)
	$(PY) -m bench.face_recall

# Sustained mixed load (uploads valid, invalid and hostile, images, jobs with webhooks,
# media URLs) with hot swaps and Serving and PostgreSQL restarted; SOAK_SECONDS long
# (make soak SOAK_SECONDS=3600 for the hour's figures). Report and plot in bench/results.
soak: $(STAMP) postgresql
	$(PY) -m bench.soak

# Coverage-guided fuzzing of the parsers of client bytes, FUZZ_SECONDS per target, one
# after another; new inputs in var/fuzz, crashes saved under tests/fuzz/crashes/.
fuzz: $(STAMP)
	nice -n 10 $(PY) -m tests.fuzz all --seconds $(FUZZ_SECONDS)

# Render the Kubernetes overlays with the pinned kubectl and validate them offline.
k8s-check: $(STAMP)
	$(PY) -m pytest tests/deploy/test_kubernetes.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS_VENV) var
