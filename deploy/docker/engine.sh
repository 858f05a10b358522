#!/usr/bin/env bash
# The Docker engine for `make image`, `make test` and compose: starts Debian's dockerd when no
# engine answers (no systemd on these machines), installs it first when it is missing.
# Idempotent: when `docker info` answers (ours, a desktop's, a CI service's), nothing is done.
#
#   engine.sh up       make sure an engine answers (default)
#   engine.sh status   say whether one answers
#
# The daemon's log is var/log/dockerd.log.  It is started without iptables or masquerading:
# these machines have no NAT to manage, builds use --network=host, published ports go through
# docker-proxy on 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOG_DIR="$ROOT/var/log"
PID_FILE="$ROOT/var/dockerd.pid"

say() { printf '[docker] %s\n' "$*" >&2; }
die() { printf '[docker] ERROR: %s\n' "$*" >&2; exit 1; }

answers() { docker info >/dev/null 2>&1; }

install() {
  if command -v dockerd >/dev/null && command -v debootstrap >/dev/null && command -v docker >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || die "no Docker engine answers and apt-get is missing: start Docker yourself"
  [ "$(id -u)" = 0 ] || die "no Docker engine answers; installing Debian's docker.io needs root"
  say "installing Debian's docker.io and debootstrap (once)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null; apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null; }
}

up() {
  if command -v docker >/dev/null && answers; then return; fi
  install
  [ "$(id -u)" = 0 ] || die "no Docker engine answers; starting dockerd needs root"
  mkdir -p "$LOG_DIR"
  if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    say "dockerd (pid $(cat "$PID_FILE")) is starting; waiting"
  else
    say "starting dockerd (log: var/log/dockerd.log)"
    dockerd --iptables=false --ip-forward=false --ip-masq=false \
      --bip=172.31.250.1/24 --ip=127.0.0.1 --storage-driver=overlay2 \
      </dev/null >>"$LOG_DIR/dockerd.log" 2>&1 &
    echo $! >"$PID_FILE"
    disown || true
  fi
  for _ in $(seq 1 120); do
    answers && { say "Docker engine is ready"; return; }
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || { tail -20 "$LOG_DIR/dockerd.log" >&2; die "dockerd exited during start-up"; }
    sleep 0.5
  done
  die "dockerd did not answer in 60 s (see var/log/dockerd.log)"
}

case "${1:-up}" in
  up) up ;;
  status) if answers; then echo "docker: up"; else echo "docker: down"; fi ;;
  *) die "usage: engine.sh up|status" ;;
esac
