"""``blindpost run bounce-receiver``"""

from __future__ import annotations

from services.bounce.app import SERVICE, create_app
from services.bounce.settings import BounceSettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = BounceSettings.from_env()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.bounce_receiver_port)


if __name__ == "__main__":
    main()
