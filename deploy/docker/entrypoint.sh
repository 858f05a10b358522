#!/bin/sh
# The image's arguments are a `blindpost` command (the chart passes `run intake`), unless the
# first one names a program on PATH (`docker run IMAGE id -u`, `docker run IMAGE blindpost …`).
set -e
case "${1:-}" in
  ""|-*) exec blindpost "$@" ;;
esac
if command -v "$1" >/dev/null 2>&1; then exec "$@"; fi
exec blindpost "$@"
