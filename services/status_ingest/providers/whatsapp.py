"""WhatsApp Cloud API webhooks: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret,
raw body)>``; statuses under ``entry[].changes[].value.statuses[]`` with ``id`` (wamid),
``status``, ``timestamp`` and our ``biz_opaque_callback_data`` (the ext_message_id).
Statuses are not guaranteed to arrive in order; each is reported on its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.status_ingest.providers.base import (
    Inbound,
    InvalidSignature,
    StatusReport,
    Unusable,
    Verified,
    clean_id,
    digest_nonce,
    hmac_hex,
    same,
)

WHATSAPP_WINDOW_S = 7 * 24 * 3600.0  # Meta retries a failed delivery for up to 7 days


class WhatsApp:
    name = "whatsapp"

    def __init__(self, app_secret: str) -> None:
        self.secret = app_secret.encode()

    async def verify(self, inbound: Inbound) -> Verified:
        header = inbound.headers.get("X-Hub-Signature-256", "")
        if not header.startswith("sha256="):
            raise InvalidSignature("missing X-Hub-Signature-256")
        if not same(hmac_hex(self.secret, inbound.body), header.removeprefix("sha256=").lower()):
            raise InvalidSignature("WhatsApp signature does not verify")
        times = [r.reported_at for r in self.parse(inbound) if r.reported_at]
        return Verified(
            nonce=digest_nonce(self.name, header),
            signed_at=max(t.timestamp() for t in times) if times else None,
            window_s=WHATSAPP_WINDOW_S,
        )

    def parse(self, inbound: Inbound) -> list[StatusReport]:
        try:
            document = json.loads(inbound.body)
        except ValueError:
            raise Unusable("WhatsApp body is not JSON") from None
        reports = []
        for entry in document.get("entry") or []:
            for change in entry.get("changes") or []:
                for status in (change.get("value") or {}).get("statuses") or []:
                    wamid = clean_id(status.get("id"), limit=300)
                    kind = status.get("status")
                    if not wamid or not isinstance(kind, str):
                        continue
                    errors = status.get("errors") or []
                    code = errors[0].get("code") if errors and isinstance(errors[0], dict) else None
                    reports.append(
                        StatusReport(
                            provider=self.name,
                            provider_status=kind,
                            event_key=f"{wamid}:{kind}",
                            ext_message_id=clean_id(status.get("biz_opaque_callback_data")),
                            provider_message_id=wamid,
                            reported_at=_time(status.get("timestamp")),
                            detail=f"whatsapp error {code}" if isinstance(code, int) else None,
                        )
                    )
        return reports


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
