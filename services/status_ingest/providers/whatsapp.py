"""WhatsApp Cloud API webhooks: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret,
raw body)>``; statuses under ``entry[].changes[].value.statuses[]`` with ``id`` (wamid),
``status``, ``timestamp`` and our ``biz_opaque_callback_data`` (the ext_message_id).
Statuses are not guaranteed to arrive in order; each is reported on its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from services.status_ingest.providers import base

WHATSAPP_WINDOW_S = 7 * 24 * 3600.0  # Meta retries a failed delivery for up to 7 days


class WhatsApp(base.Provider[dict[str, Any]]):
    name = "whatsapp"
    window_s = WHATSAPP_WINDOW_S

    def __init__(self, app_secret: str) -> None:
        self.secret = app_secret.encode()

    async def signature(self, inbound: base.Inbound) -> base.Proof:
        header = inbound.headers.get("X-Hub-Signature-256", "")
        if not header.startswith("sha256="):
            raise base.InvalidSignature("missing X-Hub-Signature-256")
        if not base.same(base.hmac_hex(self.secret, inbound.body), header.removeprefix("sha256=")):
            raise base.InvalidSignature("WhatsApp signature does not verify")
        # Meta signs no time of its own: the newest status in the signed body stands for it.
        times = [r.reported_at for r in self.parse(inbound) if r.reported_at]
        return base.Proof((inbound.body,), max(t.timestamp() for t in times) if times else None)

    def records(self, inbound: base.Inbound) -> Iterator[dict[str, Any]]:
        # Meta's shape is nested objects and arrays; any other shape below the top carries no
        # status (it is skipped, not an error: the request was signed by Meta).
        document = base.json_body(inbound, "WhatsApp")
        if not isinstance(document, dict):
            raise base.Unusable("a WhatsApp webhook is a JSON object")
        for entry in _objects(_field(document, "entry")):
            for change in _objects(_field(entry, "changes")):
                yield from _objects(_field(_field(change, "value"), "statuses"))

    def to_report(self, record: dict[str, Any]) -> base.StatusReport | None:
        wamid = base.clean_id(record.get("id"), limit=300)
        kind = record.get("status")
        if not wamid or not isinstance(kind, str):
            return None
        errors = record.get("errors") or []
        first = errors[0] if isinstance(errors, list) and errors else None
        code = first.get("code") if isinstance(first, dict) else None
        return self.message_status(
            wamid,
            kind,
            ext_message_id=base.clean_id(record.get("biz_opaque_callback_data")),
            reported_at=base.unix_time(record.get("timestamp")),
            detail=f"whatsapp error {code}" if isinstance(code, int) else None,
        )


def _field(value: object, name: str) -> object:
    return value.get(name) if isinstance(value, dict) else None


def _objects(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
