#!/usr/bin/env bash
# `make image`: the production image blindpost:dev (and, with `local`, blindpost-local:dev, the
# same image plus the local stand-ins for compose) from deploy/docker/Dockerfile.
# Starts the engine and makes the local base when needed.  Docker's layer cache persists on
# the machine, so a rebuild after a code change redoes only the last layers.
#
#   build.sh [runtime|local]...     default: runtime
#   BLINDPOST_BASE_IMAGE=debian:bookworm-slim@sha256:…   build from a registry's base instead
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="${BLINDPOST_BASE_IMAGE:-blindpost-base:bookworm}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
mkdir -p "$ROOT/var/log"

bash "$ROOT/deploy/docker/engine.sh" up
if [ "$BASE" = blindpost-base:bookworm ]; then bash "$ROOT/deploy/docker/base.sh"; fi

for target in "${@:-runtime}"; do
  case "$target" in
    runtime) tag=blindpost:dev ;;
    local) tag=blindpost-local:dev ;;
    *) echo "usage: build.sh [runtime|local]..." >&2; exit 2 ;;
  esac
  printf '[image] building %s\n' "$tag" >&2
  # The classic builder: Debian's engine has no BuildKit front-end here.  The network is the
  # host's: the build reaches Debian's mirror and PyPI, nothing else is needed.
  DOCKER_BUILDKIT=0 docker build -q --network=host --target "$target" -t "$tag" \
    --build-arg "BASE_IMAGE=$BASE" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
    -f "$ROOT/deploy/docker/Dockerfile" "$ROOT" >"$ROOT/var/log/image-$target.log" 2>&1 \
    || { tail -30 "$ROOT/var/log/image-$target.log" >&2; exit 1; }
done
