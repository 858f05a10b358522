#!/usr/bin/env bash
# Starts every Blindpost service in the background for `make up`; `down` stops them.
# Settings: deploy/local/blindpost.env, with the environment overriding any of them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="$ROOT/var/run"
LOGS="$ROOT/var/log"
BIN="$ROOT/.venv/bin"
# The local stand-ins for the outside world (services/dev/) first, then the gateway.  Order
# matters only for readiness: the vault before the resolver, the SMTP sink before e-mail.
STAND_INS=(dev-sinks smtp-sink)
GATEWAY=(vault projector intake resolver dispatch-email dispatch-sms dispatch-viber dispatch-whatsapp dispatch-cim status-ingest callback-relay bounce-receiver deliverability)
SERVICES=("${STAND_INS[@]}" "${GATEWAY[@]}")

say() { printf '[stack] %s\n' "$*" >&2; }

load_env() {
  local line name
  while IFS= read -r line || [ -n "$line" ]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    name="${line%%=*}"
    [ -z "${!name+x}" ] && export "$line"
  done <"$ROOT/deploy/local/blindpost.env"
  export BLINDPOST_VAR_DIR="${BLINDPOST_VAR_DIR:-$ROOT/var}"
  export BLINDPOST_VAULT_KEK_EPOCHS_DIR="${BLINDPOST_VAULT_KEK_EPOCHS_DIR:-$BLINDPOST_VAR_DIR/vault-kek-epochs}"
}

port_of() {
  local var="BLINDPOST_$(echo "$1" | tr 'a-z-' 'A-Z_')_PORT"
  echo "${!var}"
}

wait_ready() {
  local service=$1 port=$2
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$(cat "$RUN/$service.pid")" 2>/dev/null; then
      say "$service exited during start-up; last lines of var/log/$service.log:"
      tail -20 "$LOGS/$service.log" >&2
      return 1
    fi
    sleep 0.5
  done
  say "$service did not become ready in 60 s (var/log/$service.log)"; return 1
}

up() {
  load_env
  mkdir -p "$RUN" "$LOGS"
  "$BIN/blindpost" topics create >/dev/null
  # What the chart's CronJob does daily: the first KEK epoch, then new ones when due.
  "$BIN/blindpost" vault rotate-epochs --no-progress >/dev/null
  for service in "${SERVICES[@]}"; do
    if [ -f "$RUN/$service.pid" ] && kill -0 "$(cat "$RUN/$service.pid")" 2>/dev/null; then
      continue
    fi
    nohup "$BIN/blindpost" run "$service" </dev/null >>"$LOGS/$service.log" 2>&1 &
    echo $! >"$RUN/$service.pid"
  done
  for service in "${SERVICES[@]}"; do
    wait_ready "$service" "$(port_of "$service")"
  done
  cat <<INFO
Blindpost is running (logs: var/log/, mail: var/mail/).
  intake         http://127.0.0.1:${BLINDPOST_INTAKE_PORT}   POST /v1/email /v1/sms /v1/viber /v1/whatsapp /v1/cim
  vault          http://127.0.0.1:${BLINDPOST_VAULT_PORT}   PUT /v1/subjects/{ext_user_id}
  status ingest  http://127.0.0.1:${BLINDPOST_STATUS_INGEST_PORT}   provider webhooks, tracking, unsubscribe
  bounces        smtp://127.0.0.1:${BLINDPOST_BOUNCE_SMTP_PORT}   DSNs and feedback reports to the mails' VERP senders
  every service  /healthz /readyz /metrics on its port (deploy/local/blindpost.env)
Stop with: make down
INFO
}

down() {
  load_env
  for service in "${SERVICES[@]}"; do
    local pidfile="$RUN/$service.pid"
    [ -f "$pidfile" ] || continue
    kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  done
  for service in "${SERVICES[@]}"; do
    local pidfile="$RUN/$service.pid"
    [ -f "$pidfile" ] || continue
    for _ in $(seq 1 40); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  say "services stopped"
}

status() {
  load_env
  for service in "${SERVICES[@]}"; do
    if curl -fsS "http://127.0.0.1:$(port_of "$service")/readyz" >/dev/null 2>&1; then
      echo "$service: ready"; else echo "$service: not ready"; fi
  done
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: stack.sh up|down|status" >&2; exit 2 ;;
esac
