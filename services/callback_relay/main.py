"""``blindpost run callback-relay``"""

from __future__ import annotations

from services.callback_relay.app import SERVICE, create_app
from services.callback_relay.settings import RelaySettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = RelaySettings.from_env()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.callback_relay_port)


if __name__ == "__main__":
    main()
