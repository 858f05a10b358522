"""``blindpost run deliverability``"""

from __future__ import annotations

from services.deliverability.app import SERVICE, create_app
from services.deliverability.settings import DeliverabilitySettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = DeliverabilitySettings.from_env()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.deliverability_port)


if __name__ == "__main__":
    main()
