#!/bin/bash
# One-node KRaft broker: the settings of deploy/local/infra.sh (server-properties.sh), except
# that clients reach it as $KAFKA_ADVERTISED_HOST (the compose service name) on every
# interface, on $KAFKA_PORT (and the controller on $KAFKA_CONTROLLER_PORT: the tests run it on
# the host network).
set -euo pipefail
DATA=/var/lib/kafka/data
CONFIG=/var/lib/kafka/server.properties
bash /opt/kafka/server-properties.sh 0.0.0.0 "${KAFKA_PORT:-9092}" "${KAFKA_CONTROLLER_PORT:-9093}" \
  "${KAFKA_ADVERTISED_HOST:-kafka}" "$DATA" >"$CONFIG"
# shellcheck disable=SC2206  # KAFKA_HEAP_OPTS is a list of options
JAVA=(java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} -XX:+UseG1GC -Djava.awt.headless=true
  -Dkafka.logs.dir=/var/lib/kafka -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties
  -cp '/opt/kafka/libs/*')
if [ ! -f "$DATA/meta.properties" ]; then
  "${JAVA[@]}" kafka.tools.StorageTool format -c "$CONFIG" \
    -t "$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)" >/dev/null
fi
exec "${JAVA[@]}" kafka.Kafka "$CONFIG"
