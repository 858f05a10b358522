#!/bin/bash
# First start: a cluster with the roles and databases of deploy/local/infra.sh (local-only
# passwords, overridable), reachable with a password over the network.  Then the server.
set -euo pipefail
EVENTS_PASSWORD="${BLINDPOST_EVENTS_PASSWORD:-blindpost_events_local}"
VAULT_PASSWORD="${BLINDPOST_VAULT_PASSWORD:-blindpost_vault_local}"
VAULT_OWNER_PASSWORD="${BLINDPOST_VAULT_OWNER_PASSWORD:-blindpost_vault_owner_local}"
ADMIN_PASSWORD="${BLINDPOST_ADMIN_PASSWORD:-blindpost_admin_local}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" --auth-local=peer --auth-host=scram-sha-256 -U postgres >/dev/null 2>&1
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -s -D "$PGDATA" -o "-c listen_addresses=''" -w start
  psql -q -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE ROLE blindpost_events LOGIN PASSWORD '$EVENTS_PASSWORD';
CREATE ROLE blindpost_vault LOGIN PASSWORD '$VAULT_PASSWORD';
CREATE ROLE blindpost_vault_owner LOGIN PASSWORD '$VAULT_OWNER_PASSWORD';
CREATE ROLE blindpost_admin LOGIN SUPERUSER PASSWORD '$ADMIN_PASSWORD';
CREATE DATABASE blindpost_events OWNER blindpost_events;
CREATE DATABASE blindpost_vault OWNER blindpost_vault_owner;
GRANT CONNECT ON DATABASE blindpost_vault TO blindpost_vault;
REVOKE ALL ON DATABASE blindpost_events FROM PUBLIC;
REVOKE ALL ON DATABASE blindpost_vault FROM PUBLIC;
\c blindpost_events
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO blindpost_events;
\c blindpost_vault
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO blindpost_vault_owner;
SQL
  pg_ctl -s -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c max_connections=300 -c fsync="${POSTGRES_FSYNC:-on}"
