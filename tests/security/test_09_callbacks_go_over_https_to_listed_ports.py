"""Item 9 of #16: a callback carries ``api_key`` in its query, so it goes over https unless
the operator listed the endpoint as ``http://host:port`` (a local stand-in); and an entry
without a port admits the scheme's default port, not every port."""

from __future__ import annotations

import pytest

from services.callback_relay.ssrf import CallbackGuard, CallbackRefused, parse_allow_list


async def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


async def test_plain_http_is_refused_unless_the_entry_names_http() -> None:
    guard = CallbackGuard(["api.smartico.example", "http://127.0.0.1:9900"], public)
    assert (await guard.check("https://api.smartico.example/cb")).port == 443
    with pytest.raises(CallbackRefused):
        await guard.check("http://api.smartico.example/cb")  # api_key in clear
    assert (await guard.check("http://127.0.0.1:9900/cb")).addresses == ("127.0.0.1",)
    with pytest.raises(CallbackRefused):
        await guard.check("https://127.0.0.1:9900/cb")  # listed for http only


async def test_an_entry_without_a_port_admits_only_the_default_port() -> None:
    guard = CallbackGuard(["api.smartico.example", "http://hooks.example"], public)
    for url in (
        "https://api.smartico.example:8443/cb",
        "https://api.smartico.example:22/cb",
        "http://hooks.example:8080/cb",
    ):
        with pytest.raises(CallbackRefused):
            await guard.check(url)
    assert (await guard.check("https://api.smartico.example:443/cb")).port == 443
    assert (await guard.check("http://hooks.example/cb")).port == 80


async def test_an_explicit_https_port_is_admitted() -> None:
    guard = CallbackGuard(["api.smartico.example:9443", "https://other.example:8443"], public)
    assert (await guard.check("https://api.smartico.example:9443/cb")).port == 9443
    assert (await guard.check("https://other.example:8443/cb")).port == 8443


@pytest.mark.parametrize(
    "entry", ["ftp://secret-host", "http://secret-host/path", "secret-host:port", "http://"]
)
def test_a_malformed_entry_stops_the_start_without_echoing_it(entry: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_allow_list(["fine.example", entry])
    assert "entry 2" in str(raised.value) and "secret-host" not in str(raised.value)
