"""`blindpost subject export`: everything held about a player — the data decrypted, its
suppressions, the messages sent and their statuses, every access with principal and
purpose — as JSON, and as a printable HTML report that headless Chromium renders."""

from __future__ import annotations

import json
import uuid

from services.vault.subject_html import SECTIONS
from tests.support.processes import run_cli
from tests.vault.chromium import headless_chromium
from tests.vault.support import audit_rows
from tests.vault.test_erasure_report import record_messages

PLAYER, EMAIL, PHONE = "dpo-player", "cordelia.winterbourne@example.org", "+447911123987"


async def test_a_subject_access_export_lists_data_messages_and_every_access(
    vault, vault_env, vault_dsn, events_dsn, tmp_path
):
    assert (await vault.put(PLAYER, {"email": EMAIL, "phone": PHONE, "locale": "en"}))[0] == 200
    sent = [("email", "delivered"), ("sms", "failed"), ("email", "opened")]
    message_ids = [uuid.uuid4() for _ in sent]
    status, answer = await vault.resolve(
        [
            {"ext_user_id": PLAYER, "channel": channel, "ext_message_id": str(mid)}
            for (channel, _), mid in zip(sent, message_ids, strict=True)
        ]
    )
    assert status == 200 and {r["status"] for r in answer["results"]} == {"ok"}
    status, _ = await vault.call(
        "POST",
        "/v1/suppressions",
        "unsubscribe",
        json={
            "ext_message_id": str(message_ids[1]),
            "channel": "sms",
            "reason": "stop",
            "source": "twilio",
        },
    )
    assert status == 200
    await record_messages(
        events_dsn,
        [(PLAYER, c, s) for c, s in sent] + [("someone-else", "email", "sent")],
        message_ids=[*message_ids, uuid.uuid4()],
    )
    env = {**vault_env, "DATABASE_URL": events_dsn}

    done = run_cli(env, "subject", "export", PLAYER, "--format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    export = json.loads(done.stdout)
    assert export["data_held"]["contacts"] == {"email": EMAIL, "phone": PHONE}
    assert [(s["channel"], s["reason"]) for s in export["suppressions"]] == [("sms", "stop")]
    listed = {m["ext_message_id"]: m["status"] for m in export["messages"]["messages"]}
    assert listed == {str(mid): s for mid, (_, s) in zip(message_ids, sent, strict=True)}
    reads = [a for a in export["accesses"] if a["purpose"] == "dispatch"]
    assert {a["ext_message_id"] for a in reads} == {str(mid) for mid in message_ids}
    assert {a["principal"] for a in reads} == {"resolver"}
    assert export["accesses"][-1]["purpose"] == "subject-access"  # the export itself
    last = (await audit_rows(vault_dsn))[-1]
    assert (last["purpose"], last["decision"], sorted(last["fields"])) == (
        "subject-access",
        "read",
        ["email", "phone"],
    )

    page = tmp_path / "report.html"
    done = run_cli(env, "subject", "export", PLAYER, "--format", "html", "--output", str(page))
    assert done.returncode == 0, done.stderr[-3000:]
    async with headless_chromium() as browser:
        await browser.open(page)
        text = await browser.text()
        assert (await browser.pdf()).startswith(b"%PDF")
    for section in SECTIONS:
        assert section in text, section
    assert EMAIL in text and PHONE in text and "twilio" in text
    for mid, (_, status_) in zip(message_ids, sent, strict=True):
        assert str(mid) in text and status_ in text
    assert text.count("dispatch") >= 3 and "subject-access" in text
