#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from the Go module proxy into
# var/tools/kube/bin (Go's own caches keep the downloads and the build), for the chart's
# install test against a real API server (tests/helm/test_install.py). `go install` refuses
# k8s.io/kubernetes (its go.mod has replace directives), so this builds from a scratch
# module that repeats them. A cold build takes minutes, so `make test` starts it with
# --background at the lowest CPU priority: it uses the cores the tests leave idle while they
# wait on Kafka, and the install test (run last) waits for it (var/tools/kube/build.pid).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/var/tools/kube/bin" WORK="$ROOT/var/tools/kube/build"
# etcd first and in the foreground: apt must not run beside the image build's apt.
if ! command -v etcd >/dev/null; then
  command -v apt-get >/dev/null || { echo "[tools] etcd is needed: install etcd-server" >&2; exit 1; }
  echo "[tools] installing Debian's etcd-server (once)" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends etcd-server >&2
  if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
    $SUDO systemctl disable --now etcd >&2 || true
  fi
fi
if [ -x "$DEST/kube-apiserver" ] && [ -x "$DEST/kube-controller-manager" ]; then exit 0; fi
if [ "${1:-}" = --background ]; then
  mkdir -p "$ROOT/var/tools/kube"
  nohup nice -n 19 bash "$0" >"$ROOT/var/tools/kube/build.log" 2>&1 </dev/null &
  echo $! >"$ROOT/var/tools/kube/build.pid"
  exit 0
fi
VERSION="v1.31.14" STAGING="0.31.14"
# Staging modules the proxy lacks at $STAGING (measured 2026-11).
declare -A OLDER=([kube-controller-manager]=0.31.13 [kube-scheduler]=0.31.13 [endpointslice]=0.31.13 [kube-proxy]=0.31.11)
command -v go >/dev/null || { echo "[tools] go is needed to build kube-apiserver" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$WORK" "$DEST"
gomod="$(go mod download -json "k8s.io/kubernetes@$VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
{
  echo "module blindpost.local/kube"
  echo "go 1.22"
  echo "require k8s.io/kubernetes $VERSION"
  sed -n 's|^\s*k8s.io/\([a-z0-9-]*\) => ./staging/src/k8s.io/.*|\1|p' "$gomod" | while read -r name; do
    echo "replace k8s.io/$name => k8s.io/$name v${OLDER[$name]:-$STAGING}"
  done
} >"$WORK/go.mod"
cat >"$WORK/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
cd "$WORK"
go mod tidy -e >/dev/null 2>&1 || true
minor="$(echo "$VERSION" | cut -d. -f2)"
flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  flags="$flags -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
for cmd in kube-apiserver kube-controller-manager; do
  echo "[tools] building $cmd $VERSION (minutes on a cold cache)" >&2
  go build -trimpath -ldflags "$flags" -o "$DEST/$cmd.partial" "k8s.io/kubernetes/cmd/$cmd"
  mv "$DEST/$cmd.partial" "$DEST/$cmd"
done
