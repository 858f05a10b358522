"""The one vault call status ingest makes: record an opt-out after a one-click unsubscribe."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp


class VaultUnavailable(Exception):
    pass


class VaultOptOuts:
    session: aiohttp.ClientSession

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token

    async def opt_out(self, ext_user_id: str, channel: str, ext_message_id: str) -> None:
        url = f"{self.base_url}/v1/subjects/{quote(ext_user_id, safe='')}/opt-outs"
        body = {
            "channel": channel,
            "ext_message_id": ext_message_id,
            "source": "one-click-unsubscribe",
        }
        try:
            async with self.session.post(
                url, json=body, headers={"Authorization": f"Bearer {self._token}"}
            ) as response:
                if response.status >= 300:
                    raise VaultUnavailable(f"vault answered {response.status}")
        except aiohttp.ClientError as exc:
            raise VaultUnavailable(type(exc).__name__) from None
