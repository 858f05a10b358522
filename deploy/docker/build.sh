#!/usr/bin/env bash
# `make image`: the production image blindpost:dev (and, with `local`, blindpost-local:dev, the
# same image plus the local stand-ins for compose) from deploy/docker/Dockerfile; `kafka` and
# `postgres` build blindpost-kafka:dev and blindpost-postgres:dev for compose and the tests.
# Starts the engine and makes the local base when needed.  Docker's layer cache persists on
# the machine, so a rebuild after a code change redoes only the last layers.
#
#   build.sh [runtime|local|kafka|postgres]...     default: runtime
#   BLINDPOST_BASE_IMAGE=debian:bookworm-slim@sha256:…   build from a registry's base instead
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="${BLINDPOST_BASE_IMAGE:-blindpost-base:bookworm}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
mkdir -p "$ROOT/var/log"

bash "$ROOT/deploy/docker/engine.sh" up
if [ "$BASE" = blindpost-base:bookworm ]; then bash "$ROOT/deploy/docker/base.sh"; fi

# The Kafka image's context: the jars deploy/local/infra.sh runs, fetched by the same pom.
kafka_context() {
  local libs="$ROOT/var/kafka/libs" context="$ROOT/var/docker/kafka-context"
  if [ ! -f "$libs/.complete" ]; then
    command -v mvn >/dev/null || { echo "Maven (mvn) is needed for the Kafka jars" >&2; exit 1; }
    mkdir -p "$ROOT/var/kafka"
    mvn -q -B -f "$ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" >"$ROOT/var/kafka/mvn.log" 2>&1
    touch "$libs/.complete"
  fi
  rm -rf "$context"
  mkdir -p "$context/libs"
  cp "$libs"/*.jar "$context/libs/"
  cp "$ROOT/deploy/local/kafka/log4j2.properties" "$ROOT/deploy/local/kafka/server-properties.sh" \
    "$ROOT/deploy/docker/kafka/entrypoint.sh" "$ROOT/deploy/docker/kafka/Dockerfile" "$context/"
  echo "$context"
}

for target in "${@:-runtime}"; do
  dockerfile="$ROOT/deploy/docker/Dockerfile" context="$ROOT" stage=(--target "$target")
  case "$target" in
    runtime) tag=blindpost:dev ;;
    local) tag=blindpost-local:dev ;;
    kafka) tag=blindpost-kafka:dev context="$(kafka_context)" dockerfile="$context/Dockerfile" stage=() ;;
    postgres) tag=blindpost-postgres:dev context="$ROOT/deploy/docker/postgres"
      dockerfile="$context/Dockerfile" stage=() ;;
    *) echo "usage: build.sh [runtime|local|kafka|postgres]..." >&2; exit 2 ;;
  esac
  printf '[image] building %s\n' "$tag" >&2
  # The classic builder: Debian's engine has no BuildKit front-end here.  The network is the
  # host's: the build reaches Debian's mirror and PyPI, nothing else is needed.
  DOCKER_BUILDKIT=0 docker build -q --network=host "${stage[@]}" -t "$tag" \
    --build-arg "BASE_IMAGE=$BASE" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
    -f "$dockerfile" "$context" >"$ROOT/var/log/image-$target.log" 2>&1 \
    || { tail -30 "$ROOT/var/log/image-$target.log" >&2; exit 1; }
done
