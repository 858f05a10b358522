#!/usr/bin/env bash
# Local infrastructure without Docker: the real Apache Kafka broker (KRaft, one node) from its
# jars on Maven Central, and PostgreSQL from Debian's packages, with two segregated databases.
# Used by `make up`, `make test` and CI alike.  Idempotent: running it twice changes nothing.
#
#   infra.sh up       fetch/format/start what is missing, wait until both answer
#   infra.sh down     stop the Kafka broker this script started (PostgreSQL is left running)
#   infra.sh status   say what is running
#
# KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL in the environment win: nothing is started for them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VAR="$ROOT/var"
KAFKA_HOME="$VAR/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_PID="$KAFKA_HOME/kafka.pid"
KAFKA_PORT="${BLINDPOST_LOCAL_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${BLINDPOST_LOCAL_KAFKA_CONTROLLER_PORT:-9093}"
PG_PORT="${BLINDPOST_LOCAL_PG_PORT:-5432}"
# Local-only credentials; production passes its own DATABASE_URLs.
EVENTS_ROLE=blindpost_events
EVENTS_PASSWORD=blindpost_events_local
VAULT_ROLE=blindpost_vault
VAULT_PASSWORD=blindpost_vault_local
# Owns the vault's schema and runs its migrations; the runtime role above may only append to
# the audit log (services/vault/roles.py grants it).
VAULT_OWNER_ROLE=blindpost_vault_owner
VAULT_OWNER_PASSWORD=blindpost_vault_owner_local
ADMIN_ROLE=blindpost_admin
ADMIN_PASSWORD=blindpost_admin_local

say() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- Kafka
kafka_fetch() {
  if [ -f "$KAFKA_LIBS/.complete" ]; then return; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars: apt-get install -y maven"
  say "fetching Apache Kafka and its dependencies from Maven Central (once, cached in var/kafka/libs)"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -f "$ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$KAFKA_LIBS" >"$KAFKA_HOME/mvn.log" 2>&1 \
    || { tail -20 "$KAFKA_HOME/mvn.log" >&2; die "mvn could not fetch Kafka (log: var/kafka/mvn.log)"; }
  touch "$KAFKA_LIBS/.complete"
}

kafka_config() {
  bash "$ROOT/deploy/local/kafka/server-properties.sh" 127.0.0.1 "$KAFKA_PORT" "$CONTROLLER_PORT" \
    127.0.0.1 "$KAFKA_DATA" >"$KAFKA_HOME/server.properties"
}

# Always called in a subshell: it execs, so a background call leaves the broker's own pid in $!.
kafka_java() {
  command -v java >/dev/null || die "Java 17+ is needed for the Kafka broker: apt-get install -y openjdk-17-jre-headless"
  exec java -Xmx1g -Xms256m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_HOME" \
    -Dlog4j2.configurationFile="$ROOT/deploy/local/kafka/log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$@"
}

kafka_up() {
  if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    say "KAFKA_BOOTSTRAP_SERVERS is set ($KAFKA_BOOTSTRAP_SERVERS): using that broker"; return
  fi
  mkdir -p "$KAFKA_HOME"
  if port_open "$KAFKA_PORT"; then say "Kafka already answers on 127.0.0.1:$KAFKA_PORT"; return; fi
  kafka_fetch
  kafka_config
  if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
    say "formatting Kafka storage (once)"
    local cluster_id
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
    (kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_HOME/server.properties" >/dev/null)
  fi
  say "starting Kafka on 127.0.0.1:$KAFKA_PORT"
  kafka_java kafka.Kafka "$KAFKA_HOME/server.properties" </dev/null >"$KAFKA_HOME/stdout.log" 2>&1 &
  echo $! >"$KAFKA_PID"
  disown || true
  for _ in $(seq 1 120); do
    if port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$KAFKA_HOME/server.log" 2>/dev/null; then
      say "Kafka is ready"; return
    fi
    kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null || { tail -30 "$KAFKA_HOME/stdout.log" "$KAFKA_HOME/server.log" >&2 2>/dev/null; die "Kafka exited during start-up"; }
    sleep 0.5
  done
  die "Kafka did not become ready in 60 s (see var/kafka/server.log)"
}

kafka_down() {
  if [ -f "$KAFKA_PID" ] && kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null; then
    say "stopping Kafka"
    kill -TERM "$(cat "$KAFKA_PID")" 2>/dev/null || true
    for _ in $(seq 1 60); do port_open "$KAFKA_PORT" || break; sleep 0.5; done
  fi
  rm -f "$KAFKA_PID"
}

# ---------------------------------------------------------------- PostgreSQL
pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1; }

pg_install() {
  if [ -n "$(pg_version)" ] && command -v pg_ctlcluster >/dev/null; then return; fi
  command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is missing: install PostgreSQL 13+ or set DATABASE_URL and BLINDPOST_VAULT_DATABASE_URL"
  say "installing PostgreSQL from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

psql_admin() { runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }

pg_up() {
  if [ -n "${DATABASE_URL:-}" ]; then
    say "DATABASE_URL is set: using that PostgreSQL (BLINDPOST_VAULT_DATABASE_URL must be set too)"; return
  fi
  pg_install
  local version; version="$(pg_version)"
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$version main$"; then
    pg_createcluster "$version" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
    say "starting PostgreSQL $version"
    pg_ctlcluster "$version" main start
  fi
  for _ in $(seq 1 60); do port_open "$PG_PORT" && break; sleep 0.5; done
  port_open "$PG_PORT" || die "PostgreSQL did not answer on port $PG_PORT"
  # Two databases, two roles: the vault's data is segregated from the event store's.
  psql_admin <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$EVENTS_ROLE') THEN
    CREATE ROLE $EVENTS_ROLE LOGIN PASSWORD '$EVENTS_PASSWORD'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$VAULT_ROLE') THEN
    CREATE ROLE $VAULT_ROLE LOGIN PASSWORD '$VAULT_PASSWORD'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$VAULT_OWNER_ROLE') THEN
    CREATE ROLE $VAULT_OWNER_ROLE LOGIN PASSWORD '$VAULT_OWNER_PASSWORD'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ADMIN_ROLE') THEN
    CREATE ROLE $ADMIN_ROLE LOGIN SUPERUSER PASSWORD '$ADMIN_PASSWORD'; END IF;
END \$\$;
SQL
  for pair in "blindpost_events:$EVENTS_ROLE" "blindpost_vault:$VAULT_OWNER_ROLE"; do
    local db="${pair%%:*}" owner="${pair##*:}"
    if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      psql_admin -c "CREATE DATABASE $db OWNER $owner"
    fi
    psql_admin -c "REVOKE ALL ON DATABASE $db FROM PUBLIC"
    psql_admin -d "$db" -c "REVOKE ALL ON SCHEMA public FROM PUBLIC"
    psql_admin -d "$db" -c "ALTER SCHEMA public OWNER TO $owner"
  done
  # The vault's runtime role connects but owns nothing (tables it created before the owner
  # role existed move to the owner; the next migration grants it its share back).
  psql_admin -c "ALTER DATABASE blindpost_vault OWNER TO $VAULT_OWNER_ROLE"
  psql_admin -c "GRANT CONNECT ON DATABASE blindpost_vault TO $VAULT_ROLE"
  # Not REASSIGN OWNED: that would also move the scratch databases tests own.
  psql_admin -d blindpost_vault <<SQL
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT tablename FROM pg_tables
           WHERE schemaname = 'public' AND tableowner = '$VAULT_ROLE' LOOP
    EXECUTE format('ALTER TABLE public.%I OWNER TO $VAULT_OWNER_ROLE', r.tablename);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = '$VAULT_ROLE'::regrole LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO $VAULT_OWNER_ROLE', r.fn);
  END LOOP;
END \$\$;
SQL
  say "PostgreSQL is ready (databases blindpost_events, blindpost_vault)"
}

status() {
  if port_open "$KAFKA_PORT"; then echo "kafka: up on 127.0.0.1:$KAFKA_PORT"; else echo "kafka: down"; fi
  if port_open "$PG_PORT"; then echo "postgresql: up on 127.0.0.1:$PG_PORT"; else echo "postgresql: down"; fi
}

case "${1:-up}" in
  up) mkdir -p "$VAR"; pg_up; kafka_up ;;
  down) kafka_down ;;
  status) status ;;
  *) die "usage: infra.sh up|down|status" ;;
esac
