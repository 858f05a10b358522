#!/usr/bin/env bash
# The one-node KRaft broker's server.properties (broker and controller in one process), the
# same for deploy/local/infra.sh and the Kafka image (deploy/docker/kafka/entrypoint.sh): only
# where it listens, how clients reach it and where it keeps its data differ.
#
#   server-properties.sh LISTEN_HOST PORT CONTROLLER_PORT ADVERTISED_HOST DATA_DIR >server.properties
set -euo pipefail
[ $# -eq 5 ] || {
  echo "usage: server-properties.sh LISTEN_HOST PORT CONTROLLER_PORT ADVERTISED_HOST DATA_DIR" >&2
  exit 2
}
listen_host=$1 port=$2 controller_port=$3 advertised_host=$4 data=$5
cat <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://$listen_host:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://$advertised_host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data
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
log.retention.hours=168
PROPERTIES
