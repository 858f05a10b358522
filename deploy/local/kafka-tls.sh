#!/usr/bin/env bash
# Certificates for a Kafka broker with TLS on this host: a CA of its own and a broker
# certificate for 127.0.0.1 / localhost signed by it, as PEM files Kafka reads directly
# (ssl.keystore.type=PEM): ca.pem (clients' BLINDPOST_KAFKA_SSL_CA_FILE), broker.pem (the
# broker's key and certificate chain). LOCAL AND TESTS ONLY: production certificates come
# from the cluster's own CA.
#
#   deploy/local/kafka-tls.sh [OUT_DIR]     (default var/tls/kafka; kept if already there)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${1:-$ROOT/var/tls/kafka}"
[[ -f "$OUT/broker.pem" ]] && exit 0

# Made apart and moved in whole, so a concurrent run never sees half a set.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kafka-tls.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Blindpost local Kafka CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout broker.key -out broker.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >broker.ext
openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
  -extfile broker.ext -out broker.crt 2>/dev/null
# Kafka's PEM keystore wants a PKCS#8 key followed by the certificate chain.
openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.p8
cat broker.p8 broker.crt ca.pem >broker.pem
chmod 600 broker.pem ca.key

mkdir -p "$(dirname "$OUT")"
mkdir -p "$WORK/out" && cp ca.pem broker.pem "$WORK/out/"
mv -T "$WORK/out" "$OUT" 2>/dev/null || true  # another run got there first: keep its set
