"""Which dispatch providers a webhook provider reports on.  Statuses are matched to messages
by (provider, provider message id), never by the id alone; a webhook provider's name differs
from the dispatcher's where one sends and another reports (SMTP relays report through their
own webhooks, Meta's Cloud API is our ``whatsapp`` webhook)."""

from __future__ import annotations

REPORTS_ON: dict[str, frozenset[str]] = {
    "ses": frozenset({"ses", "smtp"}),
    "mailgun": frozenset({"mailgun", "smtp"}),
    "sendgrid": frozenset({"sendgrid", "smtp"}),
    "whatsapp": frozenset({"whatsapp", "meta"}),
    "generic": frozenset({"generic", "cim"}),
}


def dispatchers_reported_by(webhook_provider: str) -> list[str]:
    return sorted(REPORTS_ON.get(webhook_provider, frozenset({webhook_provider})))


def webhooks_reporting_on(dispatch_provider: str) -> list[str]:
    named = [w for w, senders in REPORTS_ON.items() if dispatch_provider in senders]
    return sorted({dispatch_provider, *named})
