"""``blindpost run smtp-sink``: an aiosmtpd server (``BLINDPOST_SMTP_PORT``, 2525) that writes
every mail it receives to ``$BLINDPOST_VAR_DIR/mail/<Message-ID>.eml``, so a newcomer running
``make up`` sees the mail arrive.  Named by Message-ID, a mail delivered twice (a resend
after a crash) is stored once, as mailbox providers that deduplicate on it would show it.

For local development only: it accepts any sender and recipient.  Ops endpoints on
``BLINDPOST_SMTP_SINK_PORT`` (8089): /healthz, /readyz, /metrics, and ``GET /mail`` (how
many mails are stored, and their file names).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import Envelope, Session
from prometheus_client import Counter
from pydantic import Field

from shared.http import add_readiness_check, create_service_app, serve
from shared.logging import configure_logging, get_logger
from shared.settings import BlindpostSettings

log = get_logger(__name__)

RECEIVED = Counter("blindpost_smtp_sink_messages_total", "Mails the sink received")
DUPLICATES = Counter(
    "blindpost_smtp_sink_duplicate_messages_total",
    "Mails whose Message-ID the sink had already stored (kept once)",
)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._@-]+")


class SinkSettings(BlindpostSettings):
    smtp_port: int = 2525
    smtp_sink_port: int = 8089
    smtp_sink_host: str = "127.0.0.1"
    var_dir: str = "var"
    # "files" for the local stack; "none" only counts (benchmarks measure the sender).
    smtp_sink_store: Literal["files", "none"] = "files"
    smtp_sink_max_bytes: int = Field(25 * 1024 * 1024, gt=0)

    @property
    def mail_dir(self) -> Path:
        return Path(self.var_dir) / "mail"


class MailDirHandler:
    """aiosmtpd handler: one .eml file per Message-ID."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.received = 0
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode()
        self.received += 1
        RECEIVED.inc()
        if self.folder is not None:
            path = self.folder / f"{self.file_stem(data)}.eml"
            if path.exists():
                DUPLICATES.inc()
            path.write_bytes(data)
        return "250 Message accepted for delivery"

    @staticmethod
    def file_stem(data: bytes) -> str:
        header_end = data.find(b"\r\n\r\n")
        headers = BytesHeaderParser().parsebytes(data[: header_end if header_end >= 0 else None])
        message_id = (headers.get("Message-ID") or "").strip().strip("<>")
        return SAFE_NAME.sub("_", message_id)[:200] or f"no-message-id-{uuid.uuid4()}"


async def start_smtp_server(
    handler: Any, host: str, port: int, data_size_limit: int = 25 * 1024 * 1024
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTPProtocol(
            handler,
            enable_SMTPUTF8=True,
            data_size_limit=data_size_limit,
            hostname="blindpost-sink",
        ),
        host=host,
        port=port,
    )


def create_app(settings: SinkSettings) -> web.Application:
    app = create_service_app("smtp-sink")
    folder = settings.mail_dir if settings.smtp_sink_store == "files" else None
    handler = MailDirHandler(folder)

    async def smtp(_app: web.Application) -> AsyncIterator[None]:
        server = await start_smtp_server(
            handler, settings.smtp_sink_host, settings.smtp_port, settings.smtp_sink_max_bytes
        )
        log.info("smtp sink listening", port=settings.smtp_port, folder=str(folder))
        add_readiness_check(app, "smtp", _listening(server))
        yield
        server.close()
        await server.wait_closed()

    async def mail(_request: web.Request) -> web.Response:
        names = sorted(p.name for p in folder.glob("*.eml")) if folder else []
        return web.json_response(
            {"received": handler.received, "stored": len(names), "files": names[-100:]}
        )

    app.cleanup_ctx.append(smtp)
    app.router.add_get("/mail", mail)
    return app


def _listening(server: asyncio.Server) -> Any:
    async def check() -> None:
        if not server.is_serving():
            raise RuntimeError("smtp server stopped")

    return check


def main() -> None:
    settings = SinkSettings.from_env()
    configure_logging("smtp-sink", settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.smtp_sink_port)
