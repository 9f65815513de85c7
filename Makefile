# One entry point for every check and every run. The venv is the only state.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo compose-demo check test lint typecheck k8s deploy-render golden soak fuzz clean

$(BIN)/xdscp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/xdscp
	$(BIN)/xdscp demo $(ARGS)

# docker-compose.yml for real on this machine: podman (or a Docker engine that answers) with
# images built here (deploy/compose/local), the demo's checks, then everything down.
# ARGS=--once brings it down right after the checks.
compose-demo: $(BIN)/xdscp
	$(BIN)/python -m tests.deploy.composedemo $(ARGS)

# The fast tier, for every edit: lint, types (tests and bench too) and every test that starts no
# process (pytest --fast; markers in pyproject.toml say what a test starts). Under 30 s.
check: lint typecheck
	$(BIN)/pytest -q --fast $(ARGS)

lint: $(BIN)/xdscp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/xdscp
	$(BIN)/mypy

# The real kube-apiserver, etcd, kubectl and helm, built once into ~/.cache (see tests/k8s/build).
k8s:
	tests/k8s/build/build.sh

# deploy/kubernetes and deploy/crds from the Helm chart (deploy/helm/xdscp), default values.
deploy-render: $(BIN)/xdscp k8s
	$(BIN)/python -m tests.k8s.chart

test: lint typecheck k8s
	$(BIN)/pytest $(ARGS)

# Ten minutes of changes to 1,000 streams at 10,000 Services (one minute at one Service runs
# in `make test`); prints JSON, exits 1 on a NACK, an error or a stream never final.
soak: $(BIN)/xdscp
	$(BIN)/python -m tests.soak.soak --seconds 600 --streams 1000 --services 10000

# Random xDS clients against the server, 2,000 sequences of up to 100 requests, failures
# shrunk (20 short ones run in `make test`); EXAMPLES=N for more or fewer.
EXAMPLES ?= 2000
fuzz: $(BIN)/xdscp
	XDSCP_FUZZ_EXAMPLES=$(EXAMPLES) $(BIN)/pytest -q -p no:logging tests/server/test_fuzz.py $(ARGS)

include bench/bench.mk

# Rewrite the golden outputs from the translator; read the diff before committing.
golden: $(BIN)/xdscp
	$(BIN)/pytest tests/golden --update-golden

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
