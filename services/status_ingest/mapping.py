"""Provider statuses onto the eight Smartico statuses: one table, read row by row.

``None`` marks a provider status we know and deliberately do not report (an intermediate
state such as *deferred*); a status missing from the table is counted and logged as unknown.
"""

from __future__ import annotations

from shared.domain import SmarticoStatus as S

StatusTable = dict[str, S | None]

MAPPING: dict[str, StatusTable] = {
    # SendGrid Event Webhook ``event`` (bounces carry ``type`` bounce or blocked).
    "sendgrid": {
        "processed": S.ACCEPTED,
        "deferred": None,
        "delivered": S.DELIVERED,
        "dropped": S.REJECTED,
        "bounce:bounce": S.FAILED,
        "bounce:blocked": S.REJECTED,
        "bounce": S.FAILED,
        "open": S.OPENED,
        "click": S.CLICKED,
        "spamreport": S.COMPLAINED,
        "unsubscribe": S.UNSUBSCRIBED,
        "group_unsubscribe": S.UNSUBSCRIBED,
        "group_resubscribe": None,
    },
    # Mailgun ``event-data.event`` (failures carry ``severity``).
    "mailgun": {
        "accepted": S.ACCEPTED,
        "delivered": S.DELIVERED,
        "failed:permanent": S.FAILED,
        "failed:temporary": None,  # Mailgun retries it itself
        "rejected": S.REJECTED,
        "opened": S.OPENED,
        "clicked": S.CLICKED,
        "unsubscribed": S.UNSUBSCRIBED,
        "complained": S.COMPLAINED,
        "stored": None,
    },
    # Amazon SES ``notificationType`` / ``eventType`` (bounces carry ``bounceType``).
    "ses": {
        "send": S.ACCEPTED,
        "delivery": S.DELIVERED,
        "bounce:permanent": S.FAILED,
        "bounce:undetermined": S.FAILED,
        "bounce:transient": None,  # SES keeps trying; a final failure follows
        "complaint": S.COMPLAINED,
        "reject": S.REJECTED,
        "open": S.OPENED,
        "click": S.CLICKED,
        "renderingfailure": S.FAILED,
        "deliverydelay": None,
        "subscription": S.UNSUBSCRIBED,
    },
    # Twilio ``MessageStatus``.
    "twilio": {
        "accepted": None,
        "scheduled": None,
        "queued": None,
        "sending": None,
        "sent": S.ACCEPTED,
        "delivered": S.DELIVERED,
        "undelivered": S.FAILED,
        "failed": S.FAILED,
        "canceled": S.FAILED,
        "read": S.OPENED,
        "partially_delivered": S.DELIVERED,
        "receiving": None,
        "received": None,
    },
    # Vonage SMS API delivery receipt ``status``.
    "vonage": {
        "accepted": S.ACCEPTED,
        "buffered": None,
        "delivered": S.DELIVERED,
        "expired": S.FAILED,
        "failed": S.FAILED,
        "rejected": S.REJECTED,
        "unknown": None,
    },
    # WhatsApp Cloud API ``statuses[].status``.
    "whatsapp": {
        "sent": S.ACCEPTED,
        "delivered": S.DELIVERED,
        "read": S.OPENED,
        "failed": S.FAILED,
        "deleted": None,
        "warning": None,
    },
    # Viber REST bot API callback ``event``; the others are a player's doing, not a status.
    "viber": {
        "delivered": S.DELIVERED,
        "seen": S.OPENED,
        "failed": S.FAILED,
        "subscribed": None,
        "unsubscribed": None,
        "conversation_started": None,
        "message": None,
    },
    # Our generic webhook: the eight statuses themselves plus the usual synonyms.
    "generic": {
        **{status.value: status for status in S},
        "sent": S.ACCEPTED,
        "undelivered": S.FAILED,
        "bounced": S.FAILED,
        "read": S.OPENED,
        "expired": S.FAILED,
        "queued": None,
    },
    # Our own e-mail tracking.
    "tracking": {
        "open": S.OPENED,
        "click": S.CLICKED,
        "unsubscribe": S.UNSUBSCRIBED,
    },
}


class UnknownStatus(LookupError):
    pass


def smartico_status(provider: str, provider_status: str) -> S | None:
    """Raises UnknownStatus for a status missing from the table."""
    table = MAPPING[provider]
    key = provider_status.lower()
    if key in table:
        return table[key]
    # "bounce:xyz" with an unlisted sub-type falls back to the bare event if listed.
    base = key.split(":", 1)[0]
    if ":" in key and base in table:
        return table[base]
    raise UnknownStatus(f"{provider}: unknown status {key[:40]!r}")
