"""``blindpost run intake``."""

from __future__ import annotations

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = IntakeSettings.from_env()
    configure_logging("intake", settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.intake_port)


if __name__ == "__main__":
    main()
