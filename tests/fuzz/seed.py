"""Write the committed seed corpus, ``tests/fuzz/corpus/<target>/``, from the payloads the
other tests send (``python -m tests.fuzz.seed``).  Each file is named by its content's hash,
so re-running adds what is new and changes nothing else."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

from shared.domain import Channel, SmarticoStatus
from shared.sealing import SealingPublicKey
from shared.work import sealing_context
from tests.bounce import samples as bounce_samples
from tests.fuzz import targets
from tests.intake.conftest import body_for
from tests.status_ingest import payloads as p
from tests.status_ingest.test_webhooks import forged_webhooks, valid_webhooks
from tests.support import events

CORPUS = Path(__file__).parent / "corpus"
MID = uuid.UUID("6f1c1b1e-0000-4000-8000-0000000000aa")


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _intake(channel: Channel) -> Iterator[bytes]:
    body = body_for(channel, "player-1", "uid-1")
    yield _json(body)
    if channel is Channel.EMAIL:
        yield _json({**body, "activity_type": "preview", "to_email_address": p.EMAIL})
    if channel is Channel.CIM:
        yield _json({**body, "extension": {"title": "Hi", "action": "BUY", "urgent": True}})


def _webhook_bodies(name: str) -> Iterator[bytes]:
    signed = [s for n, _, s, _ in valid_webhooks("https://status.example") if n.startswith(name)]
    signed += [s for n, _, s in forged_webhooks("https://status.example") if n.startswith(name)]
    for request in signed:
        if "Authorization" in request.headers:  # unsigned pass: the bytes are the header
            yield request.headers["Authorization"].encode()
        if name == "vonage" and request.method == "GET":
            yield request.query.encode()
        elif name == "ses":
            document = json.loads(request.body)
            yield _json({k: v for k, v in document.items() if k != "Signature"})
        else:
            yield request.body


def _inbound(name: str) -> Iterator[bytes]:
    """Players' replies as each provider forwards them: a STOP, and a message that is none."""
    for text in ("STOP", " Stop. ", "stop sending me offers"):
        if name == "twilio":
            yield urlencode({"From": p.PHONE, "To": "+15017122661", "Body": text}).encode()
            yield urlencode({"From": f"whatsapp:{p.PHONE}", "OptOutType": "STOP"}).encode()
        elif name == "vonage":
            yield urlencode(p.vonage_inbound(p.PHONE_BARE, text)).encode()
            yield urlencode(p.vonage_inbound(p.PHONE_BARE, text, concat="true")).encode()
        else:
            yield _json({"from": p.PHONE, "to": "Casino", "body": text, "channel": "whatsapp"})


def _events() -> Iterator[bytes]:
    accepted = events.accepted("uid-1")
    yield accepted.to_bytes()
    yield events.resolved(MID).to_bytes()
    yield events.dispatched(MID).to_bytes()
    yield events.dispatch_failed(MID).to_bytes()
    yield events.status_reported(MID, SmarticoStatus.DELIVERED).to_bytes()
    yield events.callback_delivered(MID, SmarticoStatus.DELIVERED).to_bytes()
    yield events.written(accepted, schema_version=1, drop=("content",))
    yield events.written(accepted, type="some_future_type")


def _sealed() -> Iterator[bytes]:
    public = SealingPublicKey.parse(targets.PUBLIC)
    context = sealing_context(targets.SEALED_FOR, Channel.EMAIL)
    yield public.seal(p.EMAIL.encode(), context).encode()
    yield b"v1.email-1.AAAA.AAAA.AAAA"


def _tracking() -> Iterator[bytes]:
    for kind in ("open", "click", "unsubscribe"):
        yield targets.TOKENS.sign(kind, str(MID), "player-1", url="https://casino.example").encode()
    yield _json({"k": "click", "m": str(MID), "u": "player-1", "url": "https://x.example"})


def _bounces() -> Iterator[bytes]:
    to = targets.VERP.address(MID)
    yield bounce_samples.dsn(to, p.EMAIL)
    yield bounce_samples.dsn(to, p.EMAIL, action="delayed", status="4.4.7")
    yield bounce_samples.dsn(to, p.EMAIL, action="delivered", status="2.0.0")
    yield bounce_samples.arf(to, p.EMAIL)
    yield bounce_samples.arf(to, p.EMAIL, feedback_type="not-spam")
    yield to.encode()


EXTENSION = {"title": "Hi", "action": "SELL", "image": "https://i.example/a.png"}
TEMPLATE = {"t": {"type": "choice", "choices": ["A"], "required": True}}
SEEDS: dict[str, Callable[[], Iterable[bytes]]] = {
    **{f"intake_{c.value}": partial(_intake, c) for c in (Channel.EMAIL, Channel.SMS, Channel.CIM)},
    "cim_extension": lambda: [_json(EXTENSION)],
    "cim_template": lambda: [_json(TEMPLATE)],
    "sealed_address": _sealed,
    "tracking_token": _tracking,
    "event_envelope": _events,
    "bounce_report": _bounces,
    **{f"webhook_{name}": partial(_webhook_bodies, name) for name in targets.PROVIDERS},
    **{f"inbound_{name}": partial(_inbound, name) for name in targets.READERS},
}


def main() -> None:
    assert set(SEEDS) == set(targets.TARGETS)
    for name, seeds in SEEDS.items():
        folder = CORPUS / name
        folder.mkdir(parents=True, exist_ok=True)
        for seed in seeds():
            (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)  # noqa: S324 - a name


if __name__ == "__main__":
    main()
