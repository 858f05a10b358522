#!/usr/bin/env bash
# `make compose-test`: `docker compose up` under a project of its own, on free published ports
# (a `make up` or another stack on this machine is left alone), the README walkthrough
# (tests/containers/test_compose.py) against it, then down with its volumes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export BLINDPOST_COMPOSE_PROJECT="bptest$$"
free_port() { "$ROOT/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for name in INTAKE VAULT STATUS_INGEST DEV_SINKS; do export "BLINDPOST_${name}_PUBLISHED_PORT=$(free_port)"; done
command -v docker-compose >/dev/null \
  || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
compose() { docker-compose -p "$BLINDPOST_COMPOSE_PROJECT" -f "$ROOT/deploy/compose/compose.yaml" "$@"; }
trap 'compose down -v --remove-orphans >/dev/null 2>&1' EXIT
compose up -d
cd "$ROOT" && "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider tests/containers/test_compose.py "$@"
