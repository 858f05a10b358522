"""The outside world of a chaos run, with the faults it can have: an SMTP server that
answers 421 for a while, and a Smartico callback endpoint that is down for a while.  Each
counts what it refused, so a run can show the fault really met traffic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.dispatch.support import RecordingSmtpHandler
from tests.e2e.outside_world import OutsideWorld

TRY_LATER = "421 4.3.2 Service not available, closing transmission channel"


@dataclass
class FaultyMailServer(RecordingSmtpHandler):
    refusing: bool = False
    refused: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusing:
            self.refused += 1
            return TRY_LATER
        return await super().handle_DATA(server, session, envelope)


class ChaosWorld(OutsideWorld):
    """Smartico's endpoint answers 503 (its load balancer with no backend) while down."""

    def __init__(self, callback_api_key: str) -> None:
        super().__init__(callback_api_key)
        self.smartico_down = False
        self.callbacks_refused = 0

    async def _callback(self, request: web.Request) -> web.Response:
        if self.smartico_down:
            self.callbacks_refused += 1
            return web.Response(status=503, text="no healthy upstream")
        return await super()._callback(request)
