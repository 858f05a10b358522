#!/usr/bin/env bash
# `make lock`: refreshes the image's hash-pinned dependency locks from pyproject.toml with
# uv (installed once into var/tools/lock).  Linux x86_64, CPython 3.11: what the image runs.
#   requirements.lock        the runtime dependencies: the production image installs only these
#   requirements-local.lock  plus the `local` extra (aiosmtpd) for the local stand-ins' image
#   requirements-build.lock  setuptools and wheel, to build the project in the build stage
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOL="$ROOT/var/tools/lock"
HERE="$ROOT/deploy/docker"

if [ ! -x "$TOOL/bin/uv" ]; then
  python3 -m venv "$TOOL"
  "$TOOL/bin/pip" install -q uv
fi
compile() {
  (cd "$ROOT" && "$TOOL/bin/uv" pip compile -q --generate-hashes \
    --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command 'make lock' "$@")
}
compile pyproject.toml -o "$HERE/requirements.lock"
compile pyproject.toml --extra local -o "$HERE/requirements-local.lock"
# What building the project's own wheel needs (pyproject.toml's build-system), hash-pinned too;
# the build stage removes it again.
printf 'setuptools>=68\nwheel\n' | compile - -o "$HERE/requirements-build.lock"
