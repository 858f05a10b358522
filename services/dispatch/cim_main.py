"""``blindpost run dispatch-cim``: custom IM to the operator's notification centre."""

from __future__ import annotations

from aiohttp import web

from services.dispatch.app import ProviderChoice, create_app
from services.dispatch.cim_template import CimTemplate
from services.dispatch.providers.cim import CimProvider
from services.dispatch.settings import CimSettings
from shared.domain import Channel, ChannelFamily
from shared.http import serve
from shared.logging import configure_logging
from shared.settings import SettingsError


def build_cim_provider(settings: CimSettings) -> ProviderChoice:
    try:
        template = CimTemplate.parse(settings.cim_template)
    except ValueError:
        raise SettingsError(
            "BLINDPOST_CIM_TEMPLATE: not a valid template (docs/dispatch.md)"
        ) from None
    provider = CimProvider(
        url=settings.cim_url,
        secret=settings.secret("cim_signing_secret").encode(),
        template=template,
        concurrency=settings.cim_concurrency,
    )
    return ProviderChoice(provider, settings.cim_rate_per_s, settings.cim_concurrency)


def create_cim_app(settings: CimSettings) -> web.Application:
    return create_app(
        settings,
        ChannelFamily.CIM,
        settings.seal_private_keys_cim,
        lambda: {Channel.CIM: build_cim_provider(settings)},
    )


def main() -> None:
    settings = CimSettings.from_env()
    configure_logging("dispatch-cim", settings.log_level, settings.log_format)
    serve(create_cim_app(settings), settings.http_host, settings.port)
