# callquality — every target installs what it needs itself.
#   make demo   run the main job on the local backend and the fixture audio
#   make test   run the test suite
#   make lint   ruff + mypy
#   make test-snowflake-account  the backend conformance suite against a real Snowflake account
#   make bench  benchmarks against peers (openSMILE, Praat, librosa, whisper, Evidently, ...)
#   make fixtures  regenerate (or enlarge: N_CALLS=200) the fixture corpus

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# torch is pinned to the CPU build; nothing may let pip pick a newer (CUDA) torch.
PIPC   := $(PIP) install -c constraints.txt
STAMP  := $(VENV)/.installed
N_CALLS ?= 60
SEED    ?= 7

.PHONY: install sysdeps demo test test-snowflake-account lint bench fixtures clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The test suite exercises every optional component, so the dev install takes all extras but
# `asr`: openai-whisper declares triton (about 1 GB of CUDA compiler) on Linux, which it only
# uses on GPUs, so it is installed without dependencies and its CPU needs come from
# requirements-dev.txt.
DEV_EXTRAS := nlp,serve,dashboard,snowflake,llm,vad,monitoring
WHISPER    := openai-whisper==20250625

$(STAMP): $(PY) pyproject.toml requirements-dev.txt constraints.txt
	$(PIPC) -q torch==2.13.0
	$(PIPC) -q -e '.[$(DEV_EXTRAS)]' -r requirements-dev.txt
	$(PIPC) -q --no-deps '$(WHISPER)'
	touch $(STAMP)

install: $(STAMP) sysdeps

# Debian packages: espeak-ng and sox synthesise and check the fixture corpus (and the demo's
# later periods); chromium runs the dashboard's end-to-end browser test.
sysdeps:
	@command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1 \
	  && command -v chromium >/dev/null 2>&1 || { \
	  echo "installing espeak-ng, sox and chromium (apt-get)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq espeak-ng sox chromium >/dev/null; }

demo: install
	$(PY) examples/demo.py --fixtures examples/fixtures

test: install
	$(PY) -m pytest -q

# The backend conformance suite against a real Snowflake account (SNOWFLAKE_ACCOUNT, user,
# password or key, role, warehouse in the environment; see docs/snowflake.md).
test-snowflake-account: install
	$(PY) -m pytest -m snowflake_account -rs

lint: install
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m mypy

bench: install
	$(PY) benchmarks/run.py
	$(PY) benchmarks/training.py
	$(PY) benchmarks/storage.py
	$(PY) benchmarks/asr.py
	$(PY) benchmarks/content.py
	$(PY) benchmarks/emotion.py
	$(PY) benchmarks/monitoring.py
	$(PY) benchmarks/serving.py

fixtures: install
	$(PY) examples/generate_fixtures.py --out examples/fixtures --n-calls $(N_CALLS) --seed $(SEED)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
