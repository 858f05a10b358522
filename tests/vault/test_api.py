"""The vault's HTTP API against real PostgreSQL and Kafka: scopes (every refusal audited),
purpose-bound reads, masked admin reads, opt-outs, and the facts published on Kafka."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from shared.subject_facts import SubjectFacts
from tests.support.kafka import read_topic
from tests.vault.support import audit_rows

MID = str(uuid.uuid4())
RESOLVE_BODY = {
    "purpose": "dispatch",
    "requests": [{"ext_user_id": "u1", "channel": "email", "ext_message_id": MID}],
}
# (operation, method, path, body, the one scope allowed)
ENDPOINTS = [
    ("write", "PUT", "/v1/subjects/u1", {"email": "ada@example.org"}, "admin"),
    ("read", "GET", "/v1/subjects/u1", None, "admin"),
    ("erase", "DELETE", "/v1/subjects/u1", None, "admin"),
    ("lookup", "POST", "/v1/lookups", {"email": "ada@example.org"}, "admin"),
    ("resolve", "POST", "/v1/contacts/resolve", RESOLVE_BODY, "resolver"),
    (
        "opt-out",
        "POST",
        "/v1/subjects/u1/opt-outs",
        {"channel": "email", "source": "x"},
        "unsubscribe",
    ),
    ("audit", "GET", "/v1/audit?ext_user_id=u1", None, "auditor"),
]
SCOPES = ["admin", "resolver", "auditor", "unsubscribe"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
async def test_every_scope_but_the_right_one_is_refused_and_audited(vault, vault_dsn, endpoint):
    _name, method, path, body, allowed = endpoint
    await vault.put("u1", {"email": "ada@example.org"})
    before = len(await audit_rows(vault_dsn))
    refused = [scope for scope in SCOPES if scope != allowed]
    for scope in [*refused, None, "bogus"]:
        status, answer = await vault.call(method, path, scope, json=body)
        assert status == (401 if scope in (None, "bogus") else 403), (scope, answer)
        assert "address" not in answer and "email" not in answer
    rows = (await audit_rows(vault_dsn))[before:]
    # Requests without a valid token are audited in aggregate, not one row each
    # (tests/security/test_07_anonymous_requests_cost_the_vault_nothing.py).
    assert [r["decision"] for r in rows] == ["refused_scope"] * len(refused)
    assert [r["scope"] for r in rows] == refused
    status, _ = await vault.call(method, path, allowed, json=body)
    assert status == 200


@pytest.mark.parametrize(
    "body",
    [
        {"requests": RESOLVE_BODY["requests"]},
        {"purpose": "curiosity", "requests": RESOLVE_BODY["requests"]},
        {"purpose": "dispatch", "requests": [{"ext_user_id": "u1", "channel": "email"}]},
    ],
    ids=["no purpose", "unknown purpose", "no message id"],
)
async def test_a_contact_is_read_only_with_a_purpose_and_the_message_it_is_for(
    vault, vault_dsn, body
):
    await vault.put("u1", {"email": "ada@example.org"})
    status, answer = await vault.call("POST", "/v1/contacts/resolve", "resolver", json=body)
    assert status == 400 and "ada" not in json.dumps(answer)
    assert (await audit_rows(vault_dsn))[-1]["decision"] == "refused_no_purpose"


async def test_every_read_is_audited_with_its_message_purpose_and_field_never_the_value(
    vault, vault_dsn, kafka_bootstrap, topics
):
    await vault.put("u1", {"email": "ada@example.org", "phone": "+44 7911 123456", "locale": "en"})
    mids = [str(uuid.uuid4()) for _ in range(3)]
    status, body = await vault.resolve(
        [
            {"ext_user_id": "u1", "channel": "email", "ext_message_id": mids[0]},
            {"ext_user_id": "u1", "channel": "sms", "ext_message_id": mids[1]},
            {"ext_user_id": "ghost", "channel": "sms", "ext_message_id": mids[2]},
        ]
    )
    assert status == 200
    assert [(r["status"], r.get("address"), r.get("locale")) for r in body["results"]] == [
        ("ok", "ada@example.org", "en"),
        ("ok", "+447911123456", "en"),
        ("user_not_found", None, None),
    ]
    rows = (await audit_rows(vault_dsn))[-3:]
    assert [
        (str(r["ext_message_id"]), r["purpose"], list(r["fields"]), r["decision"]) for r in rows
    ] == [
        (mids[0], "dispatch", ["email"], "read"),
        (mids[1], "dispatch", ["phone"], "read"),
        (mids[2], "dispatch", [], "not_found"),
    ]
    assert all(r["caller"] == "resolver" and r["scope"] == "resolver" for r in rows)
    assert [str(r["audit_id"]) for r in rows] == [r["audit_id"] for r in body["results"]]

    facts = await read_topic(kafka_bootstrap, topics.vault_audit, expect=4)
    published = [json.loads(r.value) for r in facts]
    for fact in published:
        assert {
            "ext_message_id",
            "ext_user_id",
            "caller",
            "scope",
            "purpose",
            "fields",
            "decision",
            "at",
            "audit_id",
        } <= set(fact)
    assert {f["ext_message_id"] for f in published} >= set(mids)
    raw = b"".join(r.value for r in facts)
    assert b"ada@" not in raw and b"7911" not in raw


async def test_admin_reads_only_masked_values(vault):
    await vault.put("u1", {"email": "ada.lovelace@example.org", "phone": "+44 7911 123456"})
    status, body = await vault.call("GET", "/v1/subjects/u1", "admin")
    assert status == 200
    assert body["email"] == "a***@***.org" and body["phone"] == "+44********56"
    assert "lovelace" not in json.dumps(body) and "7911" not in json.dumps(body)
    assert (await vault.call("GET", "/v1/subjects/nobody", "admin"))[0] == 404


async def test_invalid_values_are_refused_naming_the_field_not_the_value(vault, vault_dsn):
    status, body = await vault.put("u1", {"phone": "+44 12 not a phone 99"})
    assert status == 400 and body["field"] == "phone" and "not a phone 99" not in json.dumps(body)
    assert (await audit_rows(vault_dsn))[-1]["decision"] == "refused_invalid"
    status, _ = await vault.call("GET", "/v1/subjects/u1", "admin")
    assert status == 404


async def test_writes_publish_subject_facts_and_opt_outs_update_them(
    vault, kafka_bootstrap, topics
):
    await vault.put("u1", {"email": "ada@example.org"})
    await vault.put("u1", {"phone": "+44 7911 123456", "opted_out": ["sms"]})
    status, body = await vault.call(
        "POST",
        "/v1/subjects/u1/opt-outs",
        "unsubscribe",
        json={"channel": "email", "ext_message_id": MID, "source": "one-click-unsubscribe"},
    )
    assert (status, body) == (200, {"status": "recorded"})
    status, body = await vault.call(
        "POST", "/v1/subjects/nobody/opt-outs", "unsubscribe", json={"channel": "email"}
    )
    assert (status, body) == (404, {"error": "subject not found"})
    assert (await vault.resolve_one("u1", "email"))["status"] == "opted_out"
    await vault.erase("u1")

    records = await read_topic(kafka_bootstrap, topics.subject_facts, expect=4)
    assert all(r.key == b"u1" for r in records)
    facts = [SubjectFacts.from_bytes(r.value) for r in records[:3]]
    assert [f.version for f in facts] == [1, 2, 3]
    assert [sorted(f.channels) for f in facts] == [
        ["cim", "email"],
        ["cim", "email", "sms", "viber", "whatsapp"],
        ["cim", "email", "sms", "viber", "whatsapp"],
    ]
    assert [sorted(f.opted_out) for f in facts] == [[], ["sms"], ["email", "sms"]]
    assert records[3].value is None  # erasure: a tombstone


async def test_lookup_by_address_uses_the_blind_index(vault, vault_dsn):
    await vault.put("u1", {"email": "Ada@Example.org", "phone": "+44 7911 123456"})
    await vault.put("u2", {"email": "ada@example.org"})
    status, body = await vault.call(
        "POST", "/v1/lookups", "admin", json={"email": "ADA@example.ORG"}
    )
    assert (status, body) == (200, {"ext_user_ids": ["u1", "u2"]})
    status, body = await vault.call("POST", "/v1/lookups", "admin", json={"phone": "+447911123456"})
    assert body == {"ext_user_ids": ["u1"]}
    conn = await asyncpg.connect(vault_dsn)
    try:
        digests = await conn.fetch("SELECT field, digest FROM blind_index")
    finally:
        await conn.close()
    assert len(digests) == 3 and all(b"ada" not in bytes(r["digest"]).lower() for r in digests)


async def test_the_auditor_reads_the_trail_of_one_subject(vault):
    await vault.put("u1", {"email": "ada@example.org"})
    await vault.resolve_one("u1", "email")
    status, body = await vault.call("GET", "/v1/audit?ext_user_id=u1", "auditor")
    assert status == 200
    assert [e["decision"] for e in body["entries"]] == ["written", "read"]
    # The whole address: a short needle ("ada") can turn up in a random id or a hash.
    assert "ada@example.org" not in json.dumps(body)
