"""Re-driving dead letters, each once, each an event on the log.

- A dead callback goes back to the relay's retries: its outbox row is pending again, due
  now, with a fresh retry period (attempts go on counting, so each attempt's event keeps an
  id of its own).  The relay calls Smartico; a status delivered meanwhile stays delivered.
- A dead record goes back to the topic it was read from, key and value as they were, with
  a header naming the dead letter: the stage reads it again (once fixed to read it).

Per chunk, in one transaction: the failures are recorded in ``dlq_redrives`` by identity
(one already there is skipped: a record re-driven twice, or dead-lettered twice, is
re-driven once), the re-drive and
its ``dead_letter.redriven`` event are produced and acknowledged, the callbacks reopened,
then the transaction commits.  A crash before the commit leaves nothing recorded, so the
next run re-drives again: at least once, never lost; the event has the same id.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.callback_relay.store import reopen_dead
from services.dlq.letters import KINDS, REDRIVEN_FROM, DeadLetter, Selection, read_letter
from services.eventstore.topic_reader import TopicReadError, read_to_end
from shared.events import DeadLetterRedriven, Event
from shared.kafka import Kafka, Output, RecoveringProducer, send_outputs
from shared.topics import Topics

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATIONS_TABLE = "dlq_schema_migrations"
PRODUCER = "blindpost-dlq"
CHUNK = 200
Progress = Callable[[str], None]


@dataclass
class Outcome:
    selected: int = 0
    redriven: int = 0
    already: int = 0


async def dead_letters(
    kafka: Kafka, topics: Topics, selection: Selection, progress: Progress | None = None
) -> AsyncIterator[DeadLetter]:
    """The selected dead letters of every dead-letter topic, oldest first per partition;
    of several copies of one failure, the first."""
    seen: set[str] = set()
    for kind in selection.kinds:
        topic = topics.name(KINDS[kind])
        read = 0
        try:
            async for records in read_to_end(kafka, topic):
                for record in records:
                    letter = read_letter(kind, record)
                    if letter.identity not in seen and letter in selection:
                        seen.add(letter.identity)
                        yield letter
                if progress and (read + len(records)) // 10_000 > read // 10_000:
                    progress(f"{topic}: {read + len(records)} dead letters read")
                read += len(records)
        except TopicReadError:
            continue  # a dead-letter topic not made yet holds nothing


def stream_of(letter: DeadLetter) -> uuid.UUID:
    """The message the re-drive event belongs to; a record that names none goes to the
    dead-letter topic's own stream (it never mixes with a message's)."""
    return letter.ext_message_id or uuid.uuid5(uuid.NAMESPACE_URL, f"blindpost:{letter.topic}")


def redrive_event(letter: DeadLetter) -> Event:
    payload = DeadLetterRedriven(
        dead_letter=letter.coordinates,
        stage=letter.stage,
        reason=letter.reason[:500],
        status=letter.status,
        redriven_to=letter.source_topic,
    )
    return Event.create(stream_of(letter), payload, PRODUCER, discriminator=(letter.identity,))


def outputs(letter: DeadLetter, event: Event, topics: Topics) -> list[Output]:
    out = [Output(topics.message_events, event.to_bytes(), key=event.key)]
    if letter.kind == "records" and letter.source_topic:
        out.insert(0, Output(letter.source_topic, letter.value, key=letter.key,
                             headers=((REDRIVEN_FROM, letter.coordinates.encode()),)))
    return out


async def redrive(
    pool: asyncpg.Pool,
    producer: RecoveringProducer,
    topics: Topics,
    letters: AsyncIterator[DeadLetter],
    progress: Progress | None = None,
) -> Outcome:
    outcome = Outcome()
    chunk: list[DeadLetter] = []
    async for letter in letters:
        chunk.append(letter)
        if len(chunk) >= CHUNK:
            await _chunk(pool, producer, topics, chunk, outcome)
            chunk = []
            if progress:
                progress(f"re-driven {outcome.redriven} of {outcome.selected} so far "
                         f"({outcome.already} already re-driven)")
    await _chunk(pool, producer, topics, chunk, outcome)
    return outcome


async def _chunk(
    pool: asyncpg.Pool,
    producer: RecoveringProducer,
    topics: Topics,
    letters: Sequence[DeadLetter],
    outcome: Outcome,
) -> None:
    outcome.selected += len(letters)
    if not letters:
        return
    events = {letter.identity: redrive_event(letter) for letter in letters}
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "INSERT INTO dlq_redrives (failure, event_id) "
            "SELECT * FROM unnest($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING "
            "RETURNING failure",
            list(events),
            [e.event_id for e in events.values()],
        )
        new = {row["failure"] for row in rows}
        chosen = [letter for letter in letters if letter.identity in new]
        await send_outputs(
            producer,
            [o for letter in chosen for o in outputs(letter, events[letter.identity], topics)],
        )
        await reopen_dead(conn, [
            (letter.ext_message_id, letter.status)
            for letter in chosen
            if letter.kind == "callbacks" and letter.ext_message_id and letter.status
        ])
    outcome.redriven += len(chosen)
    outcome.already += len(letters) - len(chosen)
