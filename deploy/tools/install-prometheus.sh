#!/usr/bin/env bash
# Makes sure prometheus and promtool are on the machine for the observability tests
# (tests/observability): Debian's `prometheus` package ships both.  The service the package
# starts is stopped and disabled again: the tests run their own Prometheus on a free port.
set -euo pipefail
if command -v promtool >/dev/null && command -v prometheus >/dev/null; then exit 0; fi
command -v apt-get >/dev/null || { echo "[tools] install Prometheus (prometheus and promtool on PATH)" >&2; exit 1; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "[tools] installing Debian's prometheus package (once)" >&2
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends prometheus >&2
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl disable --now prometheus >&2 || true
fi
prometheus --version 2>&1 | head -1 >&2
