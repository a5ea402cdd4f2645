# vemd: two entry points for a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: demo test lint format install browser docs clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/vemd quickstart --out runs/quickstart

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/_hooks
	$(BIN)/ruff format --check src tests benchmarks docs/_hooks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks docs/_hooks
	$(BIN)/ruff check --fix src tests benchmarks docs/_hooks

# The web page tests drive Debian's chromium; on CI it must install, elsewhere they skip without it.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		{ [ "$$CI" != "true" ] && echo "chromium could not be installed: the web page tests will skip"; }

# The documentation site, offline, into runs/site (tests/test_docs.py builds it in `make test` too).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir runs/site

test: lint browser
	$(BIN)/python -m pytest -n 2 --dist worksteal -q --durations=30 tests

clean:
	rm -rf $(VENV) runs .pytest_cache
