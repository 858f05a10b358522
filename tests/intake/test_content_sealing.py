"""Intake seals what Smartico asks to send under the player's content key from a real vault:
``message.accepted`` and a preview's work item carry the sealed token and the operator's
sender, never the subject, body or extension; the key the dispatchers get opens them; a
vault that cannot be reached is error 6 and nothing is published."""

from __future__ import annotations

import uuid

from shared.content_keys import RENDER, ContentKeys
from shared.content_sealing import SEALED_FIELDS, open_content
from shared.domain import Channel, ext_message_id_for
from shared.events import Event, EventType, MessageAccepted, MessageContent
from shared.topics import Topics
from shared.work import DispatchWork
from tests.intake.conftest import (
    body_for,
    email_body,
    facts,
    publish_facts,
    running_intake,
    wait_for_directory,
)
from tests.support.events import payload_of
from tests.support.kafka import read_topic
from tests.support.ports import free_port
from tests.vault.support import VaultClient


async def opened(vault: VaultClient, user: str, mid: uuid.UUID, content: MessageContent):
    keys = ContentKeys(
        vault.session, vault.base_url, vault.env["BLINDPOST_VAULT_CONTENT_TOKEN"], RENDER
    )
    answer = await keys.answer_for(user)
    assert answer.key is not None, answer
    return open_content(content, answer.key, mid)


async def test_accepted_messages_and_previews_carry_their_content_sealed(
    vault: VaultClient,
    intake_env: dict[str, str],
    kafka_bootstrap: str,
    topics: Topics,
    events_dsn: str,
) -> None:
    user = f"p-{uuid.uuid4().hex[:8]}"
    env = {
        **intake_env,
        "BLINDPOST_INTAKE_SEAL_CONTENT": "true",
        "BLINDPOST_VAULT_URL": vault.base_url,
    }
    mail, cim = email_body(user), body_for(Channel.CIM, user)
    preview = email_body(
        "unknown-to-the-vault", activity_type="preview", to_email_address="p@example.org"
    )
    async with running_intake(env) as intake:
        await publish_facts(kafka_bootstrap, topics, facts(user, {Channel.EMAIL}))
        await wait_for_directory(events_dsn, user)
        for path, body in (("/v1/email", mail), ("/v1/cim", cim), ("/v1/email", preview)):
            assert (await intake.post(path, body))["error_code"] == 0

    records = await read_topic(kafka_bootstrap, topics.message_events, expect=3)
    accepted = {
        e.ext_message_id: payload_of(e, MessageAccepted)
        for e in (Event.from_bytes(r.value) for r in records)
    }
    sent = {
        ext_message_id_for(Channel.EMAIL, mail["email_uid"]): mail,
        ext_message_id_for(Channel.CIM, cim["im_uid"]): cim,
        ext_message_id_for(Channel.EMAIL, preview["email_uid"]): preview,
    }
    for mid, body in sent.items():
        content = accepted[mid].content
        assert content.sealed is not None
        assert all(getattr(content, name) is None for name in SEALED_FIELDS)
        wire = content.model_dump_json()
        # Fragments with a character base64url cannot hold: random ciphertext never matches.
        for fragment in ("<html>", "best offer", "the offer", '"BUY"'):
            assert fragment not in wire
        clear = await opened(vault, body["ext_user_id"], mid, content)
        assert clear.body == body["body"]
        assert (clear.subject, clear.extension) == (body.get("subject"), body.get("extension"))
        assert clear.from_email_address == content.from_email_address  # never sealed

    (work_record,) = await read_topic(kafka_bootstrap, topics.dispatch(Channel.EMAIL), expect=1)
    work = DispatchWork.from_bytes(work_record.value)
    assert work.content == accepted[work.ext_message_id].content


async def test_a_vault_out_of_reach_is_error_6_and_nothing_is_published(
    intake_env: dict[str, str], kafka_bootstrap: str, topics: Topics, events_dsn: str
) -> None:
    user = f"p-{uuid.uuid4().hex[:8]}"
    env = {
        **intake_env,
        "BLINDPOST_INTAKE_SEAL_CONTENT": "true",
        "BLINDPOST_VAULT_URL": f"http://127.0.0.1:{free_port()}",
    }
    async with running_intake(env) as intake:
        await publish_facts(kafka_bootstrap, topics, facts(user, {Channel.EMAIL}))
        await wait_for_directory(events_dsn, user)
        assert (await intake.post("/v1/email", email_body(user)))["error_code"] == 6
        # The next request, with sealing off, is the sentinel that the first left nothing.
    async with running_intake(intake_env) as intake:
        assert (await intake.post("/v1/email", email_body(user, "sentinel")))["error_code"] == 0
    records = await read_topic(kafka_bootstrap, topics.message_events, expect=1, timeout_s=3)
    events = [Event.from_bytes(r.value) for r in records]
    # (The refusal itself is on record, as every refusal is: a message.refused.)
    assert [e.ext_message_id for e in events if e.type is EventType.MESSAGE_ACCEPTED] == [
        ext_message_id_for(Channel.EMAIL, "sentinel")
    ]
