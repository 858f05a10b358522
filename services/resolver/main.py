"""``blindpost run resolver``"""

from __future__ import annotations

from services.resolver.app import create_app
from services.resolver.settings import ResolverSettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = ResolverSettings.from_env()
    configure_logging("resolver", settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.resolver_port)


if __name__ == "__main__":
    main()
