"""The resolver's side of ``POST /v1/contacts/resolve``.  Anything short of a full answer
is a :class:`TransientError`: the batch is rolled back and retried, never dropped."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import aiohttp

from shared.contacts import ContactRequest
from shared.kafka import TransientError
from shared.vault_http import vault_answer

PURPOSE = "dispatch"


@dataclass(frozen=True)
class Contact:
    ext_message_id: uuid.UUID
    status: str
    address: str | None = None
    locale: str | None = None
    audit_id: str | None = None
    reason: str | None = None
    """Why the vault refused the read (``ticket_refused``: the ticket's fault, in its words)."""


class VaultClient:
    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, token: str, batch_size: int
    ) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/v1/contacts/resolve"
        self.headers = {"Authorization": f"Bearer {token}", "X-Blindpost-Caller": "resolver"}
        self.batch_size = batch_size

    async def resolve(self, lookups: list[ContactRequest]) -> dict[uuid.UUID, Contact]:
        answers: dict[uuid.UUID, Contact] = {}
        for start in range(0, len(lookups), self.batch_size):
            answers.update(await self._call(lookups[start : start + self.batch_size]))
        return answers

    async def _call(self, lookups: list[ContactRequest]) -> dict[uuid.UUID, Contact]:
        body = {
            "purpose": PURPOSE,
            "requests": [lookup.to_json() for lookup in lookups],
        }
        payload = await vault_answer(self.session, self.url, body, self.headers, TransientError)
        try:
            contacts = [
                Contact(
                    ext_message_id=uuid.UUID(item["ext_message_id"]),
                    status=item["status"],
                    address=item.get("address"),
                    locale=item.get("locale"),
                    audit_id=item.get("audit_id"),
                    reason=item.get("reason"),
                )
                for item in payload["results"]
            ]
        except (KeyError, TypeError, ValueError):
            raise TransientError("vault answer malformed") from None
        answered = {c.ext_message_id: c for c in contacts}
        if any(lookup.ext_message_id not in answered for lookup in lookups):
            raise TransientError("vault answer incomplete")
        return answered
