"""Stand-ins for the outside world on a developer's machine (``make up`` only): Smartico's
callback endpoint, a generic SMS provider and the operator's custom-IM receiver, all on one
port.  What they receive is appended to ``$BLINDPOST_VAR_DIR/dev-sinks/*.jsonl`` so a
newcomer can watch a message go out and its statuses come back.  Never deployed.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field

from shared.http import create_service_app, serve
from shared.logging import configure_logging, get_logger
from shared.settings import BlindpostSettings

log = get_logger(__name__)
SINK_DIR = web.AppKey("sink_dir", Path)
IDEMPOTENCY = web.AppKey("idempotency", OrderedDict)


class DevSinksSettings(BlindpostSettings):
    dev_sinks_port: int = 9900
    var_dir: Path = Field(Path("var"))


def create_app(settings: DevSinksSettings) -> web.Application:
    app = create_service_app("dev-sinks")
    app[SINK_DIR] = settings.var_dir / "dev-sinks"
    app[SINK_DIR].mkdir(parents=True, exist_ok=True)
    app[IDEMPOTENCY] = OrderedDict()
    app.router.add_get("/smartico/callback", smartico_callback)
    app.router.add_post("/sms", sms_provider)
    app.router.add_post("/cim", cim_receiver)
    return app


def _append(app: web.Application, name: str, record: dict[str, Any]) -> None:
    with (app[SINK_DIR] / f"{name}.jsonl").open("a") as out:
        out.write(json.dumps(record, sort_keys=True) + "\n")


async def smartico_callback(request: web.Request) -> web.Response:
    query = {k: v for k, v in request.query.items() if k != "api_key"}
    _append(request.app, "callbacks", query)
    log.info("callback received", **query)
    return web.json_response({"error_code": 0})


async def sms_provider(request: web.Request) -> web.Response:
    # Honours Idempotency-Key like a real provider would: a repeat gets the first answer.
    key = request.headers.get("Idempotency-Key") or str(uuid.uuid4())
    seen: OrderedDict[str, str] = request.app[IDEMPOTENCY]
    if key not in seen:
        seen[key] = f"dev-sms-{uuid.uuid4()}"
        if len(seen) > 100_000:
            seen.popitem(last=False)
        _append(request.app, "sms", await request.json())
        log.info("sms received", ext_message_id=key)
    return web.json_response({"message_id": seen[key]})


async def cim_receiver(request: web.Request) -> web.Response:
    body = await request.json()
    _append(request.app, "cim", body)
    log.info("custom IM received", ext_message_id=body.get("ext_message_id"))
    return web.json_response({"status": "ok"})


def main() -> None:
    settings = DevSinksSettings.from_env()
    configure_logging("dev-sinks", settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.dev_sinks_port)
