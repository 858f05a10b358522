"""``blindpost run intake``."""

from __future__ import annotations

import asyncio

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = IntakeSettings.from_env()
    configure_logging("intake", settings.log_level, settings.log_format)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # optional speed-up, absent on some platforms
        pass
    serve(create_app(settings), settings.http_host, settings.intake_port)


if __name__ == "__main__":
    main()
