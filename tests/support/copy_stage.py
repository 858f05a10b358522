"""A minimal transactional stage for tests: copies each event on IN to OUT (as two records,
so a batch has several outputs).  With ``--crash-on-batch N`` it SIGKILLs itself after the
N-th batch's outputs reached the broker but before the transaction commits.

    python -m tests.support.copy_stage BOOTSTRAP IN OUT GROUP DEAD_LETTER [--crash-on-batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from shared.events import Event
from shared.kafka import Output, TransactionalStage, start_consumer, start_producer


async def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("bootstrap", "source", "target", "group", "dead_letter"):
        parser.add_argument(name)
    parser.add_argument("--crash-on-batch", type=int, default=0)
    args = parser.parse_args()

    consumer = await start_consumer(args.bootstrap, args.group, [args.source], max_poll_records=20)
    producer = await start_producer(args.bootstrap, transactional_id=f"copy-{args.group}")
    batches = 0

    async def handle(items: list[tuple[object, Event]]) -> list[Output]:
        return [
            Output(args.target, f"{event.event_id}:{copy}".encode(), key=event.key)
            for _record, event in items
            for copy in (1, 2)
        ]

    original = producer.send_offsets_to_transaction

    async def crash_before_commit(offsets, group_id):
        nonlocal batches
        batches += 1
        if batches == args.crash_on_batch:
            await producer.flush()  # the uncommitted outputs are really on the broker
            os.kill(os.getpid(), signal.SIGKILL)
        return await original(offsets, group_id)

    setattr(producer, "send_offsets_to_transaction", crash_before_commit)  # noqa: B010
    stage = TransactionalStage(
        name="copy",
        consumer=consumer,
        producer=producer,
        group_id=args.group,
        parse=lambda record: Event.from_bytes(record.value),
        handle=handle,
        dead_letter_topic=args.dead_letter,
        max_records=20,
    )
    print("ready", flush=True)
    await stage.run()


if __name__ == "__main__":
    asyncio.run(main())
