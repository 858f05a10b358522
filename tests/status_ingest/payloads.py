"""Provider webhooks as the providers send them (shapes captured from their documentation
and sample payloads), signed the way each provider signs.  Every sample carries a real-looking
address or number, so tests can check none of it comes out the other side."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from services.status_ingest.providers.generic import generic_signature
from services.status_ingest.providers.ses import string_to_sign
from services.status_ingest.providers.twilio import twilio_signature
from services.status_ingest.providers.viber import viber_signature
from services.status_ingest.providers.vonage import vonage_sig

EMAIL = "jane.player@example.org"
PHONE = "+447700900123"
PHONE_BARE = "447700900123"

MAILGUN_KEY = "key-mailgun-signing-0123456789"
TWILIO_TOKEN = "twilio-auth-token-abcdef"
VONAGE_SECRET = "vonage-signature-secret"
WHATSAPP_SECRET = "meta-app-secret"
GENERIC_SECRET = "generic-webhook-secret"
VIBER_TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
VIBER_USER = "01234567890A="  # a player's Viber id: never to be found downstream
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:ses-events"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"


@dataclass(frozen=True)
class Signed:
    headers: dict[str, str]
    body: bytes
    query: str = ""
    method: str = "POST"


# --- SendGrid -------------------------------------------------------------------------

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC_B64 = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def sendgrid_events(mid: str | None, sg_id: str, events: list[str]) -> list[dict]:
    out = []
    for i, event in enumerate(events):
        item: dict[str, object] = {
            "email": EMAIL,
            "timestamp": int(time.time()),
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": event.split(":")[0],
            "category": ["cat facts"],
            "sg_event_id": f"{uuid.uuid4().hex[:22]}==",
            "sg_message_id": f"{sg_id}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC1BC-12.{i}",
        }
        if mid:
            item["ext_message_id"] = mid  # custom_args come back as top-level fields
        if item["event"] == "bounce":
            item.update(
                type=event.split(":")[1],
                status="5.1.1",
                reason=f"550 5.1.1 <{EMAIL}>: unknown user",
            )
        if item["event"] in ("open", "click"):
            item.update(useragent="Mozilla/5.0", ip="255.255.255.255", sg_machine_open=False)
        if item["event"] == "click":
            item["url"] = "https://casino.example/offer"
        out.append(item)
    return out


def sendgrid(events: list[dict], *, timestamp: int | None = None, key=SENDGRID_KEY) -> Signed:
    return sendgrid_signed(json.dumps(events).encode(), timestamp=timestamp, key=key)


def sendgrid_signed(
    body: bytes,
    *,
    timestamp: int | None = None,
    key=SENDGRID_KEY,
    content_type: str = "application/json",
) -> Signed:
    """Any body, signed as SendGrid signs its events."""
    ts = str(timestamp or int(time.time()))
    signature = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return Signed(
        {
            "Content-Type": content_type,
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        },
        body,
    )


# --- Mailgun --------------------------------------------------------------------------


def mailgun(
    mid: str | None,
    event: str,
    *,
    severity: str | None = None,
    timestamp: int | None = None,
    key: str = MAILGUN_KEY,
    message_id: str = "20260203192638.000be97f99f8cea1@mg.example",
) -> Signed:
    ts = str(timestamp or int(time.time()))
    data: dict[str, object] = {
        "id": uuid.uuid4().hex[:22],
        "timestamp": float(ts),
        "log-level": "info",
        "event": event,
        "envelope": {"sender": "noreply@casino.example", "targets": EMAIL, "transport": "smtp"},
        "message": {
            "headers": {
                "to": EMAIL,
                "message-id": message_id,
                "from": "Casino <noreply@casino.example>",
                "subject": "Offer",
            }
        },
        "recipient": EMAIL,
        "recipient-domain": "example.org",
        "user-variables": {"ext_message_id": mid} if mid else {},
        "tags": [],
    }
    if severity:
        data["severity"] = severity
        data["delivery-status"] = {
            "code": 550,
            "message": f"5.1.1 <{EMAIL}> unknown",
            "attempt-no": 1,
        }
    return mailgun_signed({"event-data": data}, timestamp=int(ts), key=key)


def mailgun_signed(
    document: dict[str, object], *, timestamp: int | None = None, key: str = MAILGUN_KEY
) -> Signed:
    """Any JSON object, with a Mailgun signature block added."""
    ts = str(timestamp or int(time.time()))
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]
    signature = hmac.new(key.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    body = json.dumps(
        {"signature": {"timestamp": ts, "token": token, "signature": signature}, **document}
    ).encode()
    return Signed({"Content-Type": "application/json"}, body)


# --- Amazon SES through SNS ------------------------------------------------------------

SNS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
SNS_CERT_PEM = (
    x509.CertificateBuilder()
    .subject_name(_name)
    .issuer_name(_name)
    .public_key(SNS_KEY.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(datetime.now(UTC) - timedelta(days=1))
    .not_valid_after(datetime.now(UTC) + timedelta(days=30))
    .sign(SNS_KEY, hashes.SHA256())
    .public_bytes(serialization.Encoding.PEM)
)


def ses_notification(
    mid: str | None, kind: str, *, ses_message_id: str, bounce_type: str = "Permanent"
) -> dict:
    mail: dict[str, object] = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": "noreply@casino.example",
        "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/casino.example",
        "sendingAccountId": "123456789012",
        "messageId": ses_message_id,
        "destination": [EMAIL],
        "headersTruncated": False,
        "commonHeaders": {
            "from": ["Casino <noreply@casino.example>"],
            "to": [EMAIL],
            "messageId": f"<{mid}@mail.casino.example>" if mid else "<other@mail.casino.example>",
            "subject": "Offer",
        },
    }
    note: dict[str, object] = {"eventType": kind, "mail": mail}
    if kind == "Bounce":
        note["bounce"] = {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": EMAIL,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": f"smtp; 550 5.1.1 <{EMAIL}> unknown",
                }
            ],
            "timestamp": mail["timestamp"],
            "feedbackId": "0100017a-feedback",
        }
    if kind == "Delivery":
        note["delivery"] = {
            "timestamp": mail["timestamp"],
            "processingTimeMillis": 546,
            "recipients": [EMAIL],
            "smtpResponse": "250 ok",
            "reportingMTA": "a8-70.smtp-out",
        }
    if kind == "Complaint":
        note["complaint"] = {
            "complainedRecipients": [{"emailAddress": EMAIL}],
            "timestamp": mail["timestamp"],
            "feedbackId": "x",
            "complaintFeedbackType": "abuse",
        }
    return note


def sns(
    message: dict | str,
    *,
    kind: str = "Notification",
    version: str = "1",
    topic: str = TOPIC_ARN,
    cert_url: str = CERT_URL,
    timestamp: datetime | None = None,
    key=SNS_KEY,
    message_id: str | None = None,
) -> Signed:
    document: dict[str, object] = {
        "Type": kind,
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
    }
    if kind == "Notification":
        document["UnsubscribeURL"] = (
            "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
        )
    else:
        document["Token"] = "2336412f37fb687f5d51e6e2425dacbba"
        document["SubscribeURL"] = (
            f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=2336412f"
        )
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS v1 is SHA1
    signature = key.sign(string_to_sign(document), padding.PKCS1v15(), algorithm)
    document["Signature"] = base64.b64encode(signature).decode()
    return Signed(
        {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": kind},
        json.dumps(document).encode(),
    )


# --- Twilio ---------------------------------------------------------------------------


def twilio(
    public_url: str, mid: str | None, sid: str, status: str, *, token: str = TWILIO_TOKEN
) -> Signed:
    query = urlencode({"bp_mid": mid}) if mid else ""
    params = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": PHONE,
        "MessagingServiceSid": "MG1234",
        "MessageSid": sid,
        "AccountSid": "AC1234",
        "From": "+15017122661",
        "ApiVersion": "2010-04-01",
    }
    if status in ("failed", "undelivered"):
        params["ErrorCode"] = "30003"
    return twilio_signed(public_url, urlencode(params).encode(), query=query, token=token)


def twilio_signed(
    public_url: str,
    body: bytes,
    *,
    query: str = "",
    token: str = TWILIO_TOKEN,
    content_type: str = "application/x-www-form-urlencoded",
) -> Signed:
    """Any body, signed as Twilio signs a status callback (the URL and the form's fields)."""
    url = public_url + "/webhooks/twilio" + (f"?{query}" if query else "")
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    signature = twilio_signature(token, url, params)
    return Signed({"Content-Type": content_type, "X-Twilio-Signature": signature}, body, query)


# --- Vonage ---------------------------------------------------------------------------


def vonage_params(mid: str | None, message_id: str, status: str) -> dict[str, str]:
    params = {
        "msisdn": PHONE_BARE,
        "to": "Casino",
        "network-code": "23410",
        "messageId": message_id,
        "price": "0.03330000",
        "status": status,
        "scts": "2001011400",
        "err-code": "0" if status == "delivered" else "5",
        "api-key": "abcd1234",
        "message-timestamp": "2020-01-01 12:00:00",
    }
    if mid:
        params["client-ref"] = mid
    return params


def vonage_inbound(msisdn: str, text: str, **extra: str) -> dict[str, str]:
    """An inbound SMS as the SMS API forwards it (sign with one of the two below)."""
    return {
        "msisdn": msisdn,
        "to": "447700900000",
        "messageId": "0A0000000123ABCD" + uuid.uuid4().hex[:4].upper(),
        "text": text,
        "type": "text",
        "keyword": text.strip().split(" ")[0].upper() if text.strip() else "",
        "message-timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "api-key": "abcd1234",
        **extra,
    }


def vonage_signed_query(
    params: dict[str, str], *, secret: str = VONAGE_SECRET, timestamp: int | None = None
) -> Signed:
    params = {**params, "timestamp": str(timestamp or int(time.time())), "nonce": uuid.uuid4().hex}
    params["sig"] = vonage_sig(params, secret, "sha256")
    return Signed({}, b"", urlencode(params), method="GET")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def vonage_jwt_json(
    params: dict[str, str], *, secret: str = VONAGE_SECRET, iat: int | None = None
) -> Signed:
    return vonage_jwt_signed(json.dumps(params).encode(), secret=secret, iat=iat)


def vonage_jwt_signed(
    body: bytes,
    *,
    secret: str = VONAGE_SECRET,
    iat: int | None = None,
    content_type: str = "application/json",
) -> Signed:
    """Any body, signed with a Vonage webhook JWT (its payload_hash covers the body)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64url(
        json.dumps(
            {
                "iat": iat or int(time.time()),
                "jti": str(uuid.uuid4()),
                "iss": "Vonage",
                "payload_hash": hashlib.sha256(body).hexdigest(),
                "api_key": "abcd1234",
            }
        ).encode()
    )
    sig = _b64url(hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest())
    return Signed(
        {"Content-Type": content_type, "Authorization": f"Bearer {header}.{claims}.{sig}"}, body
    )


# --- WhatsApp Cloud API ---------------------------------------------------------------


def whatsapp(
    statuses: list[tuple[str | None, str, str]],
    *,
    secret: str = WHATSAPP_SECRET,
    timestamp: int | None = None,
) -> Signed:
    """statuses: (ext_message_id, wamid, status)."""
    ts = str(timestamp or int(time.time()))
    items = []
    for mid, wamid, status in statuses:
        item: dict[str, object] = {
            "id": wamid,
            "status": status,
            "timestamp": ts,
            "recipient_id": PHONE_BARE,
            "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "marketing"}},
            "pricing": {"billable": True, "pricing_model": "CBP", "category": "marketing"},
        }
        if mid:
            item["biz_opaque_callback_data"] = mid
        if status == "failed":
            item["errors"] = [
                {
                    "code": 131026,
                    "title": "Message undeliverable",
                    "error_data": {"details": "Message Undeliverable."},
                }
            ]
        items.append(item)
    document = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "statuses": items,
                        },
                    }
                ],
            }
        ],
    }
    return whatsapp_signed(json.dumps(document).encode(), secret=secret)


def whatsapp_signed(
    body: bytes, *, secret: str = WHATSAPP_SECRET, content_type: str = "application/json"
) -> Signed:
    """Any body, signed as Meta signs its webhooks."""
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Signed({"Content-Type": content_type, "X-Hub-Signature-256": f"sha256={mac}"}, body)


# --- Generic --------------------------------------------------------------------------


def generic(
    items: list[dict] | dict, *, secret: str = GENERIC_SECRET, timestamp: int | None = None
) -> Signed:
    return generic_signed(json.dumps(items).encode(), secret=secret, timestamp=timestamp)


def generic_signed(
    body: bytes,
    *,
    secret: str = GENERIC_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> Signed:
    """Any body, signed as our generic webhook is."""
    signature = generic_signature(secret, timestamp or int(time.time()), body)
    return Signed({"Content-Type": content_type, "X-Blindpost-Signature": signature}, body)


# --- Viber REST bot API -----------------------------------------------------------------


def viber(
    event: str,
    message_token: int | None,
    *,
    token: str = VIBER_TOKEN,
    timestamp_ms: int | None = None,
    user_id: str = VIBER_USER,
    **extra: object,
) -> Signed:
    """A callback as Viber posts it to the bot's webhook."""
    document: dict[str, object] = {
        "event": event,
        "timestamp": timestamp_ms or int(time.time() * 1000),
        "chat_hostname": "SN-CHAT-05_",
        "user_id": user_id,
        **extra,
    }
    if message_token is not None:
        document["message_token"] = message_token
    if event == "failed":
        document["desc"] = f"failure description for {user_id} at {PHONE}"
    return viber_signed(json.dumps(document).encode(), token=token)


def viber_signed(
    body: bytes, *, token: str = VIBER_TOKEN, content_type: str = "application/json"
) -> Signed:
    """Any body, signed as Viber signs its callbacks."""
    return Signed(
        {"Content-Type": content_type, "X-Viber-Content-Signature": viber_signature(token, body)},
        body,
    )
