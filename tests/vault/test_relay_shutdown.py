"""The audit relay stops when cancelled, even when the cancellation arrives as it is woken
(a request audited just before shutdown).  It once ran on, and the vault's shutdown waited
for it forever: ``asyncio.wait_for`` on Python 3.11 swallows a cancellation that races the
awaited result."""

from __future__ import annotations

import asyncio

from services.vault.audit_relay import AuditRelay


async def test_a_relay_woken_as_it_is_cancelled_stops():
    # Never reaches the database or Kafka: cancelled while it waits to be woken.
    relay = AuditRelay(pool=None, publisher=None)  # type: ignore[arg-type]
    running = asyncio.create_task(relay.run(idle_s=30))
    await asyncio.sleep(0)  # waiting to be woken
    relay.notify()
    await asyncio.sleep(0)  # the wake-up is delivered...
    running.cancel()  # ...and the shutdown's cancellation arrives in the same turn
    done, _ = await asyncio.wait([running], timeout=5)
    assert running in done and running.cancelled()
