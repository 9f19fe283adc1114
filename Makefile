# Likeness developer commands. Everything installs into .venv from this repo's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv run test bench lint lint-template admin clean

$(STAMP): pyproject.toml requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# PyTorch's CPU build, before anything can ask for torch: a bare "torch" from PyPI would
	# pull several GB of CUDA libraries. It runs the GPU face detector's tests on CPU.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[faces,providers,gpu,local,dev]"
	# wheels whose declared dependencies we must not take (see the file's comments)
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

venv: $(STAMP)

## make run: set up and start the whole local stack (API on http://127.0.0.1:8000)
run: venv
	$(BIN)/python -m infra.local --host 127.0.0.1 --port 8000

## make test: the whole test suite (unit, integration on moto, end to end over HTTP)
test: venv
	$(BIN)/python -m pytest -q

## make bench: benchmark figures (latency, detector vs dlib HOG, cold imports)
bench: venv
	$(BIN)/python -m bench

lint: venv lint-template
	$(BIN)/ruff check .
	$(BIN)/mypy layers/likeness functions infra gpu_jobs

## make lint-template: cfn-lint with AWS's serverless rules; fails on errors, prints warnings
lint-template: venv
	$(BIN)/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules --non-zero-exit-code error

## make admin ARGS="group-create studio": the admin CLI against the running local stack
admin: venv
	@set -a; [ -f .local-state/stack.env ] && . ./.local-state/stack.env; set +a; \
	$(BIN)/likeness-admin $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .local-state
