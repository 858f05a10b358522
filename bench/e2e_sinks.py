"""The operator's SMTP server and Smartico's callback endpoint for the end-to-end benchmark,
in a process of their own: what they cost is then not charged to the process that posts,
and the CPU budget can tell them apart from the gateway.

    python -m bench.e2e_sinks SMTP_PORT HTTP_PORT CALLBACK_API_KEY

Each records when a message first arrived (wall-clock seconds, comparable across processes
on one machine): a mail by its Message-ID (``<ext_message_id@domain>``), a callback by its
``ext_message_id`` when the status is ``accepted``.  ``GET /arrivals`` answers both, with how
many arrived more than once (``mails_repeated``, ``callbacks_repeated``).  Prints ``ready``
once both listen.
"""

from __future__ import annotations

import asyncio
import sys
import time
from email.parser import BytesHeaderParser
from typing import Any

from aiohttp import web

from services.dev.smtp_sink import start_smtp_server


class Arrivals:
    def __init__(self) -> None:
        self.mails: dict[str, float] = {}
        self.callbacks: dict[str, float] = {}
        self.repeated = {"mails_repeated": 0, "callbacks_repeated": 0}

    def record(self, kind: str, seen: dict[str, float], message_id: str) -> None:
        if message_id in seen:
            self.repeated[f"{kind}_repeated"] += 1
        else:
            seen[message_id] = time.time()


class CountingSmtp:
    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self.parser = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message_id = str(self.parser.parsebytes(envelope.content)["Message-ID"])
        self.arrivals.record("mails", self.arrivals.mails, message_id.strip("<>").split("@")[0])
        return "250 OK"


def callback_app(arrivals: Arrivals, api_key: str) -> web.Application:
    async def callback(request: web.Request) -> web.Response:
        if request.query.get("api_key") != api_key:
            return web.json_response({"error_code": 1}, status=401)
        if request.query.get("status") == "accepted":
            arrivals.record("callbacks", arrivals.callbacks, request.query["ext_message_id"])
        return web.json_response({"error_code": 0})

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(
            {"mails": arrivals.mails, "callbacks": arrivals.callbacks, **arrivals.repeated}
        )

    app = web.Application()
    app.router.add_get("/smartico/callback", callback)
    app.router.add_get("/arrivals", answer)
    return app


async def serve(smtp_port: int, http_port: int, api_key: str) -> None:
    arrivals = Arrivals()
    smtp = await start_smtp_server(CountingSmtp(arrivals), "127.0.0.1", smtp_port)
    runner = web.AppRunner(callback_app(arrivals, api_key), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()  # until the benchmark terminates this process
    finally:
        smtp.close()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
