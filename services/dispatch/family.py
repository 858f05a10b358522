"""A dispatcher as data: its settings class and its registry of providers by name.  Each
dispatcher sends one channel (its own topic, consumer group and process; the code is this,
shared), through the provider its ``BLINDPOST_<CHANNEL>_PROVIDER`` names, built by the
registry's function with that channel's limits (docs/adding-a-provider.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web

from services.dispatch.app import ProviderChoice, create_app
from services.dispatch.providers import Provider
from services.dispatch.settings import FamilySettings
from shared.domain import Channel
from shared.http import serve
from shared.logging import configure_logging
from shared.settings import SettingsError

S = TypeVar("S", bound=FamilySettings)

BuildProvider = Callable[[S, Channel], Provider]
"""Builds a provider from the family's settings for one channel (its limits, its URL)."""


@dataclass(frozen=True)
class Family(Generic[S]):
    settings: type[S]
    providers: Mapping[str, BuildProvider[S]]

    def choose_providers(self, settings: S) -> dict[Channel, list[ProviderChoice]]:
        """Each channel's providers, in failover order."""
        choices: dict[Channel, list[ProviderChoice]] = {}
        for channel in settings.channels:
            names = settings.providers_for(channel)
            variable = f"BLINDPOST_{channel.value.upper()}_PROVIDERS"
            unknown = [name for name in names if name not in self.providers]
            if unknown:
                raise SettingsError(f"{variable}: each one of {', '.join(sorted(self.providers))}")
            if len(set(names)) < len(names):
                raise SettingsError(f"{variable}: a provider named twice")
            limits = settings.limits(channel)
            choices[channel] = [
                ProviderChoice(
                    self.providers[name](settings, channel), limits.rate_per_s, limits.concurrency
                )
                for name in names
            ]
        return choices

    def create_app(self, settings: S) -> web.Application:
        return create_app(
            settings,
            settings.channel,
            settings.private_keys,
            lambda: self.choose_providers(settings),
        )

    def main(self) -> None:
        settings = self.settings.from_env()
        configure_logging(
            f"dispatch-{settings.channel.value}", settings.log_level, settings.log_format
        )
        serve(self.create_app(settings), settings.http_host, settings.port)
