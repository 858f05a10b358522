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
        document = base.json_body(inbound, "WhatsApp")
        for entry in document.get("entry") or []:
            for change in entry.get("changes") or []:
                yield from (change.get("value") or {}).get("statuses") or []

    def to_report(self, record: dict[str, Any]) -> base.StatusReport | None:
        wamid = base.clean_id(record.get("id"), limit=300)
        kind = record.get("status")
        if not wamid or not isinstance(kind, str):
            return None
        errors = record.get("errors") or []
        code = errors[0].get("code") if errors and isinstance(errors[0], dict) else None
        return self.message_status(
            wamid,
            kind,
            ext_message_id=base.clean_id(record.get("biz_opaque_callback_data")),
            reported_at=base.unix_time(record.get("timestamp")),
            detail=f"whatsapp error {code}" if isinstance(code, int) else None,
        )
