"""A message PostgreSQL refuses to store (a NUL in its callback URL: valid JSON and a valid
str for pydantic, not a PostgreSQL text) is dead-lettered with our reason, and the messages
behind it on its partition, and on the other partitions of the same fetch, are still called
back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.domain import Channel, SmarticoStatus
from shared.events import Event
from shared.topics import Topics
from tests.callback_relay.support import (
    Smartico,
    lifecycle,
    relay_caught_up,
    relay_env,
    running_relay,
    smartico,
)
from tests.support.kafka import distinct_dead_letters, partitions_of, publish, read_topic
from tests.support.polling import eventually


@asynccontextmanager
async def poisoned(
    base_env: dict[str, str], events_dsn: str
) -> AsyncIterator[tuple[Smartico, dict[str, str], Event]]:
    """A witness, the relay's settings, and a message.accepted the database refuses."""
    async with smartico() as witness:
        env = relay_env(base_env, events_dsn, f"http://127.0.0.1:{witness.port}")
        _mid, events = lifecycle(Channel.SMS, witness.url + "?label=\x00", [])
        yield witness, env, events[0]


async def assert_dead_lettered(bootstrap: str, topics: Topics, poison: Event) -> None:
    dead = await read_topic(bootstrap, topics.dead_letter, expect=1)
    assert distinct_dead_letters(dead) == [
        (poison.to_bytes(), b"refused by the database: CharacterNotInRepertoireError")
    ]


async def test_a_message_the_database_refuses_is_dead_lettered_and_its_partition_goes_on(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    async with poisoned(base_env, events_dsn) as (witness, env, poison):
        async with running_relay(env):
            await publish(kafka_bootstrap, topics.message_events, [poison], partition=0)
            # A sentinel behind it on every partition, partition 0 included, is called back.
            await relay_caught_up(kafka_bootstrap, topics, witness)
    await assert_dead_lettered(kafka_bootstrap, topics, poison)


async def test_a_refused_message_holds_back_no_other_partition_of_its_fetch(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    async with poisoned(base_env, events_dsn) as (witness, env, poison):
        # All on the log before the relay starts, so its first fetch spans every partition:
        # the poison first on partition 0, messages behind it there and on the others.
        await publish(kafka_bootstrap, topics.message_events, [poison], partition=0)
        expected = set()
        for partition in await partitions_of(kafka_bootstrap, topics.message_events):
            for _ in range(3):
                mid, events = lifecycle(Channel.SMS, witness.url, [SmarticoStatus.DELIVERED])
                await publish(kafka_bootstrap, topics.message_events, events, partition=partition)
                expected |= {(str(mid), "accepted"), (str(mid), "delivered")}
        async with running_relay(env):
            await eventually(
                lambda: set(witness.delivered()) >= expected,
                within=30,
                what="every other message's callbacks",
            )
    await assert_dead_lettered(kafka_bootstrap, topics, poison)
