"""``blindpost run status-ingest``"""

from __future__ import annotations

from services.status_ingest.app import SERVICE, create_app
from services.status_ingest.settings import StatusIngestSettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = StatusIngestSettings.from_env()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.status_ingest_port)


if __name__ == "__main__":
    main()
