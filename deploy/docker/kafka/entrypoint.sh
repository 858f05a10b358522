#!/bin/bash
# One-node KRaft broker: the same settings as deploy/local/infra.sh, except that clients reach
# it as $KAFKA_ADVERTISED_HOST (the compose service name) on every interface, on $KAFKA_PORT
# (and the controller on $KAFKA_CONTROLLER_PORT: the tests run it on the host network).
set -euo pipefail
DATA=/var/lib/kafka/data
CONFIG=/var/lib/kafka/server.properties
ADVERTISED="${KAFKA_ADVERTISED_HOST:-kafka}:${KAFKA_PORT:-9092}"
cat >"$CONFIG" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT:-9093}
listeners=PLAINTEXT://0.0.0.0:${KAFKA_PORT:-9092},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT:-9093}
advertised.listeners=PLAINTEXT://$ADVERTISED
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPERTIES
# shellcheck disable=SC2206  # KAFKA_HEAP_OPTS is a list of options
JAVA=(java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} -XX:+UseG1GC -Djava.awt.headless=true
  -Dkafka.logs.dir=/var/lib/kafka -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties
  -cp '/opt/kafka/libs/*')
if [ ! -f "$DATA/meta.properties" ]; then
  "${JAVA[@]}" kafka.tools.StorageTool format -c "$CONFIG" \
    -t "$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)" >/dev/null
fi
exec "${JAVA[@]}" kafka.Kafka "$CONFIG"
