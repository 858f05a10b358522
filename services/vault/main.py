"""``blindpost run vault``"""

from __future__ import annotations

from services.vault.app import create_app
from services.vault.settings import VaultSettings
from shared.http import serve
from shared.logging import configure_logging


def main() -> None:
    settings = VaultSettings.from_env()
    configure_logging("vault", settings.log_level, settings.log_format)
    serve(create_app(settings), settings.http_host, settings.vault_port)


if __name__ == "__main__":
    main()
