"""The world outside the gateway, on one local port: Smartico's callback endpoint, a generic
SMS provider (honouring Idempotency-Key, as the real ones that support it do) and the
operator's custom-IM receiver.  It records what it receives, as each would."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.dispatch.providers.cim import SIGNATURE_HEADER
from tests.support.ports import free_port


class OutsideWorld:
    def __init__(self, callback_api_key: str) -> None:
        self.callback_api_key = callback_api_key
        self.callbacks: list[dict[str, str]] = []
        self.sms: list[dict[str, Any]] = []
        self.sms_keys: list[str] = []  # the Idempotency-Key of every POST, repeats included
        self.cim: list[tuple[bytes, str]] = []
        self._sms_ids: dict[str, str] = {}
        self.port = free_port()
        app = web.Application()
        app.router.add_get("/smartico/callback", self._callback)
        app.router.add_post("/sms", self._sms)
        app.router.add_post("/cim", self._cim)
        self._runner = web.AppRunner(app, access_log=None)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _callback(self, request: web.Request) -> web.Response:
        self.callbacks.append(dict(request.query))
        if request.query.get("api_key") != self.callback_api_key:
            return web.json_response({"error_code": 1, "error_message": "bad api_key"})
        return web.json_response({"error_code": 0})

    async def _sms(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        self.sms_keys.append(key)
        if key not in self._sms_ids:
            self._sms_ids[key] = f"sms-{len(self._sms_ids) + 1}"
            self.sms.append(await request.json())
        return web.json_response({"message_id": self._sms_ids[key]})

    async def _cim(self, request: web.Request) -> web.Response:
        self.cim.append((await request.read(), request.headers.get(SIGNATURE_HEADER, "")))
        return web.json_response({"status": "ok"})
