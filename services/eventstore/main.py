"""``blindpost run projector``: persists the event log and keeps the projections."""

from __future__ import annotations

from services.eventstore.app import create_app
from services.eventstore.settings import EventStoreSettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = EventStoreSettings.from_env()
    configure_logging("projector", settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.projector_port)


if __name__ == "__main__":
    main()
