#!/usr/bin/env bash
# Makes sure a headless Chromium is on the machine for the subject-export test
# (tests/vault/test_subject_export.py renders the printable HTML report in it): Debian's
# `chromium` package.
set -euo pipefail
if command -v chromium >/dev/null; then exit 0; fi
command -v apt-get >/dev/null || { echo "[tools] install Chromium (chromium on PATH)" >&2; exit 1; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "[tools] installing Debian's chromium package (once)" >&2
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium >&2
chromium --version 2>&1 | head -1 >&2
