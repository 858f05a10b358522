"""A message PostgreSQL refuses to store (a NUL in its callback URL: valid JSON and a valid
str for pydantic, not a PostgreSQL text) is dead-lettered with our reason, and the messages
behind it on its partition are still called back."""

from __future__ import annotations

from shared.domain import Channel
from tests.callback_relay.support import (
    lifecycle,
    relay_caught_up,
    relay_env,
    running_relay,
    smartico,
)
from tests.support.kafka import distinct_dead_letters, publish, read_topic


async def test_a_message_the_database_refuses_is_dead_lettered_and_its_partition_goes_on(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    async with smartico() as witness:
        env = relay_env(base_env, events_dsn, f"http://127.0.0.1:{witness.port}")
        _mid, poison = lifecycle(Channel.SMS, witness.url + "?label=\x00", [])
        async with running_relay(env):
            await publish(kafka_bootstrap, topics.message_events, poison[:1], partition=0)
            # A sentinel behind it on every partition, partition 0 included, is called back.
            await relay_caught_up(kafka_bootstrap, topics, witness)
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=1)
    assert distinct_dead_letters(dead) == [
        (poison[0].to_bytes(), b"refused by the database: CharacterNotInRepertoireError")
    ]
