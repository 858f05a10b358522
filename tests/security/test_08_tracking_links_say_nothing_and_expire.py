"""Issue #16 item 8: tracking links carry no readable ext_user_id or destination URL (the
claims are AES-GCM sealed), open and click links expire while unsubscribe links keep working
(RFC 8058), and a secret rotation keeps earlier links working while the old one is listed."""

from __future__ import annotations

import base64
import time
import uuid

import pytest

from shared.tracking import DEFAULT_TTL_S, InvalidToken, TrackingTokens
from tests.status_ingest.conftest import Ingest

USER = "player-8-secret-id"
OFFER = "https://casino.example/offer?player=player-8-secret-id&bonus=50"
OLD = time.time() - DEFAULT_TTL_S - 3600


def _readable(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)) + token.encode()


def test_a_token_reveals_neither_the_player_nor_the_destination() -> None:
    tokens = TrackingTokens(b"tracking-secret", "https://t.example")
    mid = str(uuid.uuid4())
    for kind, extra in (("open", {}), ("click", {"url": OFFER}), ("unsubscribe", {})):
        token = tokens.sign(kind, mid, USER, **extra)  # type: ignore[arg-type]
        readable = _readable(token)
        assert USER.encode() not in readable and b"casino" not in readable
        assert mid.encode() not in readable
        assert tokens.verify(token, kind)["u"] == USER  # type: ignore[arg-type]


def test_a_rotation_keeps_earlier_links_and_refuses_unknown_keys() -> None:
    mid = str(uuid.uuid4())
    before = TrackingTokens(b"old-secret", "https://t.example").sign("click", mid, USER, url=OFFER)
    rotated = TrackingTokens(b"new-secret", "https://t.example", previous=(b"old-secret",))
    assert rotated.verify(before, "click")["url"] == OFFER
    with pytest.raises(InvalidToken):
        TrackingTokens(b"new-secret", "https://t.example").verify(before, "click")


async def test_open_and_click_links_expire_unsubscribe_links_do_not(
    ingest: Ingest, base_env: dict[str, str]
) -> None:
    tokens = TrackingTokens(base_env["BLINDPOST_TRACKING_SECRET"].encode(), ingest.base_url)
    mid = str(uuid.uuid4())
    expired = [
        f"{ingest.base_url}/t/o/{tokens.sign('open', mid, USER, issued_at=OLD)}",
        f"{ingest.base_url}/t/c/{tokens.sign('click', mid, USER, issued_at=OLD, url=OFFER)}",
    ]
    for url in expired:
        async with ingest.session.get(url, allow_redirects=False) as response:
            assert response.status == 404, url
    unsubscribe = f"{ingest.base_url}/u/{tokens.sign('unsubscribe', mid, USER, issued_at=OLD)}"
    async with ingest.session.get(unsubscribe) as response:
        assert response.status == 200
    fresh = f"{ingest.base_url}/t/c/{tokens.sign('click', mid, USER, url=OFFER)}"
    async with ingest.session.get(fresh, allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == OFFER
