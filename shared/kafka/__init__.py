"""Kafka for the whole suite, one way: clients (:mod:`.clients`), topic set-up
(:mod:`.admin`), what stages produce and dead-letter (:mod:`.records`), the one retry with
back-off (:mod:`.retry`), records PostgreSQL refuses (:mod:`.refusals`), the one consume
loop and stored-positions listener (:mod:`.consume`), what a rebalance hands back
(:mod:`.assignment`), and the transactional stage (:mod:`.stage`)."""

from shared.kafka.admin import (
    TopicsMissing,
    admin_client,
    ensure_topics,
    prepare_topics,
    topics_ready,
)
from shared.kafka.assignment import (
    HANDED_BACK,
    commit_assigned,
    rewind_assigned,
    still_assigned,
)
from shared.kafka.clients import (
    Kafka,
    client_config,
    consumer_config,
    kafka_consumer,
    kafka_producer,
    producer_config,
    start_consumer,
    start_producer,
)
from shared.kafka.consume import (
    STAGE_RECORDS,
    Consumption,
    SeekToStoredPositions,
    commit_for_lag,
)
from shared.kafka.producer import ProducerWedged, RecoveringProducer
from shared.kafka.records import (
    DEAD_LETTERED,
    Output,
    TransientError,
    dead_letter_output,
    failure_reason,
    next_offsets,
    refused_by_database,
    send_outputs,
)
from shared.kafka.refusals import handle_or_refuse
from shared.kafka.retry import STAGE_RETRIES, Backoff, retry_until_done
from shared.kafka.stage import TransactionalStage

__all__ = [
    "DEAD_LETTERED",
    "HANDED_BACK",
    "STAGE_RECORDS",
    "STAGE_RETRIES",
    "Backoff",
    "Consumption",
    "Kafka",
    "Output",
    "ProducerWedged",
    "RecoveringProducer",
    "SeekToStoredPositions",
    "TopicsMissing",
    "TransactionalStage",
    "TransientError",
    "admin_client",
    "client_config",
    "commit_assigned",
    "commit_for_lag",
    "consumer_config",
    "dead_letter_output",
    "ensure_topics",
    "failure_reason",
    "handle_or_refuse",
    "kafka_consumer",
    "kafka_producer",
    "next_offsets",
    "prepare_topics",
    "refused_by_database",
    "producer_config",
    "retry_until_done",
    "rewind_assigned",
    "send_outputs",
    "start_consumer",
    "start_producer",
    "still_assigned",
    "topics_ready",
]
