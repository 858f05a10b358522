"""Streams that are not a message's: a refused request, a provider report that names no
message we know, and a suppression no message caused.  Their ids come from their own
namespaces, so they never collide with a message's ``ext_message_id`` and a retry of the
same request (or report) lands on the same stream, stored once."""

from __future__ import annotations

import uuid

from shared.domain import Channel, uuid5

_REFUSALS = uuid.UUID("0c6f7a52-3f0e-4d8b-9a51-6b2e1d3c9f40")
_REPORTS = uuid.UUID("9d2e4b71-8c3a-4f65-b0d7-1e5a6c2f8b93")
_SUPPRESSIONS = uuid.UUID("3b8f1d6e-72a4-4c09-8e5d-a1f7c2b46e18")


def refusal_id_for(channel: Channel, reference: str, error_code: int) -> uuid.UUID:
    """``reference`` is the request's uid (Smartico's retry of it is the same refusal), or
    what else the caller groups refusals by."""
    return uuid5(_REFUSALS, f"{channel.value}\x1f{reference}\x1f{error_code}")


def report_id_for(provider: str, reference: str) -> uuid.UUID:
    """A provider's report on no message we know, by its provider message id or event key."""
    return uuid5(_REPORTS, f"{provider}\x1f{reference}")


def suppression_id_for(ext_user_id: str, channel: Channel) -> uuid.UUID:
    """A player's suppressions on a channel that no message caused (an SMS STOP), and
    their removals: one stream, so its timeline is that suppression's history."""
    return uuid5(_SUPPRESSIONS, f"{channel.value}\x1f{ext_user_id}")
