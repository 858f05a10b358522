# The whole set-up on a fresh machine is `make up` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up down test unit lint bench infra tools install clean status fuzz chaos image lock \
	test-images compose-images compose-up compose-down compose-test soak

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,local]'
	@touch $(STAMP)

infra:
	@bash deploy/local/infra.sh up

tools:
	@bash deploy/tools/install-helm.sh
	@bash deploy/tools/install-prometheus.sh
	@bash deploy/tools/install-chromium.sh
	@bash deploy/tools/build-kube.sh --background

## Start Kafka, PostgreSQL and every Blindpost service in the background; ready when it returns.
up: install infra
	@bash deploy/local/stack.sh up

## Stop the services and the Kafka broker.
down:
	@bash deploy/local/stack.sh down
	@bash deploy/local/infra.sh down

status:
	@bash deploy/local/infra.sh status
	@bash deploy/local/stack.sh status

## The production image blindpost:dev from deploy/docker/Dockerfile (and blindpost-local:dev,
## the same plus the local stand-ins, for compose); starts the Docker engine when none runs.
image:
	@bash deploy/docker/build.sh runtime local

## The images compose runs (the production one, the stand-ins', Kafka's, PostgreSQL's).
compose-images:
	@bash deploy/docker/build.sh runtime local kafka postgres

## `docker compose up` (Debian's docker-compose): the whole gateway in containers.
compose-up: compose-images
	@command -v docker-compose >/dev/null || apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
	docker-compose -f deploy/compose/compose.yaml up -d

compose-down:
	docker-compose -f deploy/compose/compose.yaml down

## The README's walkthrough against `docker compose up` (a few minutes: not in `make test`).
compose-test: install compose-images
	@bash deploy/compose/test.sh $(PYTEST_ARGS)

## Refresh the image's hash-pinned dependency locks (deploy/docker/requirements*.lock).
lock:
	@bash deploy/docker/lock.sh

## For `make test`: the images, or (outside CI) a note that the container tests will skip.
test-images:
	@bash deploy/docker/build.sh runtime local \
	  || { [ "$${CI:-}" != true ] && echo "[image] no image: tests/containers will be skipped"; }

## Install what is needed, start Kafka and PostgreSQL, build the image, run every test:
## two workers by default (each test file stays on one worker, in order); XDIST= for one.
XDIST ?= -n 2 --dist loadfile
test: install infra tools test-images
	$(BIN)/pytest -q -p no:cacheprovider --durations=25 $(XDIST) $(PYTEST_ARGS)

## Only the tests that need no Kafka and no PostgreSQL (not marked `integration` by
## tests/conftest.py): seconds, with nothing started.
unit: install
	$(BIN)/pytest -q -p no:cacheprovider -m "not integration" $(PYTEST_ARGS)

## Fuzz every outside-input parser for FUZZ_SECONDS each (tests/fuzz/targets.py); what the
## fuzzer learns stays in var/fuzz/corpus, a crash's input in var/fuzz/crashes.
FUZZ_SECONDS ?= 60
fuzz: install
	@mkdir -p var/fuzz/crashes
	@set -e; for target in $$(ls tests/fuzz/corpus); do \
		mkdir -p var/fuzz/corpus/$$target; \
		echo "fuzzing $$target for $(FUZZ_SECONDS) s"; \
		PYTHONPATH=$$PWD $(BIN)/python -m tests.fuzz.run $$target -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 -artifact_prefix=var/fuzz/crashes/$$target- \
			var/fuzz/corpus/$$target tests/fuzz/corpus/$$target 2>&1 | grep -E "DONE|Uncaught|Error|crash-" ; \
		test $${PIPESTATUS[0]} -eq 0; \
	done

## A bad hour for the whole gateway under a stream of e-mail, SMS and custom IM (tests/chaos),
## on a private Kafka and PostgreSQL: every service SIGKILLed, the broker and PostgreSQL
## restarted, the vault down and SMTP answering 421 for CHAOS_FAULT_S, Smartico down for
## CHAOS_SMARTICO_DOWN_S, each consumer doubled and one replica killed mid-rebalance;
## CHAOS_FLOW messages called back between two faults.  The table lands in
## var/chaos/report.md.  (`make test` runs a scaled-down version: each fault kind once.)
CHAOS_FLOW ?= 100
CHAOS_FAULT_S ?= 60
CHAOS_SMARTICO_DOWN_S ?= 300
chaos: install infra
	CHAOS_FLOW=$(CHAOS_FLOW) CHAOS_FAULT_S=$(CHAOS_FAULT_S) CHAOS_SMARTICO_DOWN_S=$(CHAOS_SMARTICO_DOWN_S) \
		$(BIN)/pytest -q -s -p no:cacheprovider tests/chaos

## The whole gateway for SOAK_MINUTES under a steady stream of e-mails (SOAK_RATE a second, by
## default half the end-to-end maximum it measures first); fails when a service's RSS, open
## files, database connections or consumer lag grow without bound, or a message is lost.
## A table each minute; the report lands in var/soak/report.md (docs/reliability.md, "Soak").
SOAK_MINUTES ?= 30
soak: install infra
	SOAK_MINUTES=$(SOAK_MINUTES) $(BIN)/python -m bench.soak

## Ruff (its S rules are the security lint), mypy, and pip-audit of the installed
## dependencies (deploy/tools/audit_dependencies.py says what it needs to reach).
lint: install
	$(BIN)/ruff check shared services tests bench deploy/tools
	$(BIN)/mypy
	$(BIN)/python deploy/tools/audit_dependencies.py

bench: install infra
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
