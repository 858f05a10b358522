"""The bundled sink: mail sent to it lands as .eml files named by Message-ID."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import aiosmtplib

from services.dev.smtp_sink import SinkSettings, create_app
from tests.dispatch.support import Served
from tests.support.ports import free_port

MAIL = (
    b"From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n"
    b"Message-ID: <1234-abcd@blindpost.local>\r\n\r\nhello\r\n"
)


async def test_sink_writes_eml_files_once_per_message_id(tmp_path: Path):
    smtp_port, ops_port = free_port(), free_port()
    settings = SinkSettings.from_env(
        {"BLINDPOST_SMTP_PORT": str(smtp_port), "BLINDPOST_VAR_DIR": str(tmp_path)}
    )
    async with Served(create_app(settings), port=ops_port) as ops:
        for _ in range(2):  # a resend after a crash carries the same Message-ID
            await aiosmtplib.send(
                MAIL,
                sender="a@example.test",
                recipients=["b@example.test"],
                hostname="127.0.0.1",
                port=smtp_port,
            )
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{ops.url}/mail") as response:
                listing = await response.json()
            async with session.get(f"{ops.url}/readyz") as response:
                assert response.status == 200
    files = list((tmp_path / "mail").glob("*.eml"))
    assert [f.name for f in files] == ["1234-abcd@blindpost.local.eml"]
    assert b"Subject: hi" in files[0].read_bytes()
    assert listing == {"received": 2, "stored": 1, "files": ["1234-abcd@blindpost.local.eml"]}
