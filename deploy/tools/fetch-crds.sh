#!/usr/bin/env bash
# Puts the CRDs of KEDA and prometheus-operator in var/tools/crds, so the chart tests can
# check ScaledObjects, ServiceMonitors and PrometheusRules against the operators' own
# schemas. Both projects ship their CRDs inside their Go modules; the Go module proxy serves
# them (cached in Go's module cache). Strimzi is not a Go module: its resources are checked
# for shape only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/var/tools/crds"
KEDA="github.com/kedacore/keda/v2@v2.21.0"
PROMETHEUS_OPERATOR="github.com/prometheus-operator/prometheus-operator@v0.85.0"
if [ -f "$DEST/.complete" ]; then exit 0; fi
command -v go >/dev/null || { echo "[tools] go is needed to fetch the CRDs" >&2; exit 1; }
dir_of() { GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
keda="$(dir_of "$KEDA")"
prom="$(dir_of "$PROMETHEUS_OPERATOR")"
mkdir -p "$DEST"
install -m 0644 "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" "$DEST/"
install -m 0644 "$prom/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
   "$prom/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" "$DEST/"
touch "$DEST/.complete"
