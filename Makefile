# The two set-up commands of the README: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Debian packages the tests use as real parts: sshd, Prometheus, Alertmanager, Chromium (UI).
DEB_PKGS := openssh-server prometheus prometheus-alertmanager chromium
DEB_BINS := /usr/sbin/sshd /usr/bin/prometheus /usr/bin/prometheus-alertmanager /usr/bin/chromium
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint debs clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: install and start Remedy on the embedded default (Temporal dev server, worker, bridge)
run: $(STAMP)
	$(BIN)/remedy dev --inventory examples/inventory.yaml

## debs: install the Debian packages the tests need, only when missing
debs:
	@missing=0; for b in $(DEB_BINS); do [ -x $$b ] || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  echo "installing Debian packages: $(DEB_PKGS)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEB_PKGS) >/dev/null; \
	fi

## test: install everything the tests need, then run them
test: $(STAMP) debs
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy workflows activities remedy worker.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
