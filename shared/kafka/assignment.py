"""A partition revoked under a stage (a rebalance while a batch was in hand) is not an
error: the work taken from it is handed back, its offsets not committed, and the loop goes
on.  The partition's new owner starts from the last committed offset and does that work
again, which every stage tolerates (each is idempotent or stores its own positions).

aiokafka refuses a commit or a seek on a partition no longer assigned
(``IllegalStateError``), and a commit whose generation a rebalance ended
(``CommitFailedError``): these helpers keep to the partitions still assigned, checked
with no await between the check and the call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from prometheus_client import Counter

from shared.logging import get_logger

log = get_logger(__name__)

HANDED_BACK = Counter(
    "blindpost_stage_partitions_handed_back_total",
    "Partitions revoked while a stage had work from them in hand: left to their new owner",
    ["stage"],
)


def still_assigned(
    consumer: AIOKafkaConsumer, records: Iterable[ConsumerRecord]
) -> list[ConsumerRecord]:
    """The ``records`` whose partition this consumer still owns."""
    assigned = consumer.assignment()
    return [r for r in records if TopicPartition(r.topic, r.partition) in assigned]


async def commit_assigned(
    consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, int], *, stage: str
) -> None:
    """Commit where each partition still assigned resumes; the others are handed back."""
    assigned = consumer.assignment()
    kept = {tp: offset for tp, offset in offsets.items() if tp in assigned}
    _count_handed_back(stage, len(offsets) - len(kept))
    if not kept:
        return
    try:
        await consumer.commit(kept)
    except (CommitFailedError, IllegalStateError) as exc:
        # Revoked while the commit was on its way: the new owner redoes the batch.
        _count_handed_back(stage, len(kept), error=type(exc).__name__)


def rewind_assigned(consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, int]) -> None:
    """Seek each partition still assigned back to ``offsets``, to consume its work again;
    a revoked one is already its new owner's, from its last committed offset."""
    assigned = consumer.assignment()
    for tp, offset in offsets.items():
        if tp in assigned:
            consumer.seek(tp, offset)


def _count_handed_back(stage: str, partitions: int, **context: object) -> None:
    if partitions:
        HANDED_BACK.labels(stage).inc(partitions)
        log.info(
            "partitions revoked mid-batch; their work is handed back",
            stage=stage,
            partitions=partitions,
            **context,
        )
