# The README's commands. Each creates .venv when missing and re-installs only when
# pyproject.toml changed (the stamp file is older than it).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The experiment page's jsPsych packages (npm); re-installed when the lock file changes.
WEB := src/repalign/experiments/web
WEB_STAMP := $(WEB)/node_modules/.installed
EXTRAS ?= all
PYTEST_ARGS ?=

.PHONY: demo test lint bench browser web clean

# With EXTRAS=all, cblearn (the embedding extra) goes in without its numpy~=1.26 pin: see
# pyproject.toml.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing repalign[$(EXTRAS)] into $(VENV) (a few minutes the first time)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]' > $(VENV)/pip.log 2>&1 \
	  || { grep -v "is ignored: it is neither" $(VENV)/pip.log | tail -40; echo "pip install failed (full log: $(VENV)/pip.log)" >&2; exit 1; }
	@if [ "$(EXTRAS)" = "all" ]; then \
	  $(PY) -m pip install --quiet --disable-pip-version-check 'numba>=0.59' 'sparse>=0.15' >> $(VENV)/pip.log 2>&1 \
	  && $(PY) -m pip install --quiet --disable-pip-version-check --no-deps 'cblearn>=0.4' >> $(VENV)/pip.log 2>&1 \
	  || { echo "installing cblearn failed (full log: $(VENV)/pip.log)" >&2; exit 1; }; fi
	@$(PY) -c "import repalign, torch, torchvision" || (echo "installation into $(VENV) failed" >&2; exit 1)
	@touch $(STAMP)

# Without npm (and no way to install it) this warns and goes on: the experiment server then
# names the command to run, and the page's browser tests skip (under CI=true they fail).
$(WEB_STAMP): $(WEB)/package-lock.json $(WEB)/package.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing npm for the experiment page"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null) \
	  || echo "could not install npm: install Node.js and npm, then run make web" >&2; }
	@if command -v npm >/dev/null 2>&1; then \
	  echo "installing the experiment page's jsPsych packages (npm ci)"; \
	  npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error && touch $(WEB_STAMP); fi

web: $(WEB_STAMP)

demo: $(STAMP) $(WEB_STAMP)
	$(VENV)/bin/repalign demo

test: $(STAMP) $(WEB_STAMP) browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

# Headless Chromium for the browser tests (report, experiment page); installed from Debian's
# packages when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium: the browser test will be skipped" >&2; }

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache $(WEB)/node_modules
