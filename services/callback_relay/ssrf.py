"""Which callback URLs may be called, and at which address (OWASP SSRF cheat sheet).

A URL is callable only when its scheme, host and port are on the allow-list (https unless an
entry names ``http://``; an entry without a port means the scheme's default), it is written in a
plain form (no user info, no decimal/octal/hex IP spellings), and every address it resolves
to is public — or is itself, in canonical form, on the allow-list.  The validated addresses
are then *pinned*: :class:`PinnedResolver` is the only resolver the HTTP client has, and it
answers only with addresses this module validated, so DNS cannot change between the check
and the connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> IP address strings; tests inject their own."""

_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
DEFAULT_PORTS = {"http": 80, "https": 443}


class CallbackRefused(Exception):
    """This URL is never called.  The message is a reason class with the host, never the
    query (which carries the api_key)."""


@dataclass(frozen=True)
class AllowEntry:
    """``host``, ``host:port`` or ``[v6]:port``: https only, on 443 unless a port is named.
    Plain http only where the entry says so, ``http://host:port`` (a local stand-in): over
    http the ``api_key`` would cross the network in clear."""

    scheme: str
    host: str
    port: int

    def admits(self, scheme: str, host: str, port: int) -> bool:
        return (self.scheme, self.host, self.port) == (scheme, host, port)


def _canonical_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_allow_list(entries: Iterable[str]) -> tuple[AllowEntry, ...]:
    """Raises ``ValueError`` naming the entry's position (never the entry) when one is not
    ``[http://|https://]host[:port]``."""
    parsed = []
    for index, raw in enumerate(entries):
        entry = raw.strip()
        if not entry:
            continue
        scheme, separator, rest = entry.partition("://")
        if not separator:
            scheme, rest = "https", entry
        if scheme.lower() not in DEFAULT_PORTS or not rest or "/" in rest:
            raise ValueError(f"callback allow-list entry {index + 1} is not [http://]host[:port]")
        scheme = scheme.lower()
        host, port_text = rest, ""
        if rest.startswith("["):  # [v6]:port or [v6]
            host, _, after = rest[1:].partition("]")
            port_text = after[1:] if after.startswith(":") else ""
        elif rest.count(":") == 1:
            host, _, port_text = rest.partition(":")
        if port_text and not port_text.isdigit():
            raise ValueError(f"callback allow-list entry {index + 1} has an invalid port")
        port = int(port_text) if port_text else DEFAULT_PORTS[scheme]
        parsed.append(AllowEntry(scheme, _canonical_host(host), port))
    return tuple(parsed)


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class Target:
    url: URL
    host: str
    port: int
    addresses: tuple[str, ...]


def _effective(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d and the NAT64/6to4 forms reach an IPv4 host: judge that host.
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


class CallbackGuard:
    """Validates callback URLs and remembers the validated addresses for a short while."""

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        resolve: Resolve = system_resolve,
        cache_ttl_s: float = 30.0,
    ) -> None:
        self.allow = parse_allow_list(allowed_hosts)
        self.resolve = resolve
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[tuple[str, int], tuple[float, tuple[str, ...]]] = {}
        self._checked: dict[str, tuple[float, Target]] = {}

    def host_allowed(self, scheme: str, host: str, port: int) -> bool:
        return any(entry.admits(scheme, host, port) for entry in self.allow)

    def address_allowed(self, scheme: str, address: str, port: int) -> bool:
        ip = _effective(address)
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            return False  # cloud metadata and friends: never, even if listed
        if ip.is_global:
            return True
        # A non-public address only when the operator listed that very address.
        return self.host_allowed(scheme, str(ip), port)

    async def check(self, raw_url: str) -> Target:
        """Validates ``raw_url``; a URL validated in the last ``cache_ttl_s`` is not parsed
        and resolved again (thousands of callbacks share one callback_url)."""
        now = time.monotonic()
        cached = self._checked.get(raw_url)
        if cached and cached[0] > now:
            return cached[1]
        target = await self._check(raw_url)
        if len(self._checked) > 10_000:
            self._checked.clear()
        self._checked[raw_url] = (now + self.cache_ttl_s, target)
        return target

    async def _check(self, raw_url: str) -> Target:
        try:
            url = URL(raw_url)
        except (ValueError, TypeError):
            raise CallbackRefused("unparseable callback URL") from None
        if url.scheme not in DEFAULT_PORTS:
            raise CallbackRefused("callback URL scheme must be http or https")
        if url.user is not None or url.password is not None:
            raise CallbackRefused("callback URL carries user info")
        raw_host = url.raw_host or ""
        host = _plain_host(raw_host)
        port = url.port or DEFAULT_PORTS[url.scheme]
        if not self.host_allowed(url.scheme, host, port):
            # Plain http is refused here too unless an entry names http:// for this host.
            raise CallbackRefused(f"{url.scheme}://{host[:80]}:{port} is not on the allow-list")
        addresses = await self._addresses(host, port)
        refused = [a for a in addresses if not self.address_allowed(url.scheme, a, port)]
        if refused or not addresses:
            self._cache.pop((host, port), None)  # the pinned resolver refuses it too
            raise CallbackRefused(f"host {host[:80]} resolves to a non-public address")
        # Only validated addresses are ever pinned.
        self._cache[(host, port)] = (time.monotonic() + self.cache_ttl_s, addresses)
        return Target(url=url, host=host, port=port, addresses=addresses)

    async def _addresses(self, host: str, port: int) -> tuple[str, ...]:
        try:
            return (str(ipaddress.ip_address(host)),)
        except ValueError:
            pass
        cached = self._cache.get((host, port))
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            return tuple(await self.resolve(host, port))
        except OSError:
            raise CallbackRefused(f"host {host[:80]} does not resolve") from None

    def pinned(self, host: str, port: int) -> tuple[str, ...] | None:
        cached = self._cache.get((host, port))
        return cached[1] if cached else None


def _plain_host(raw_host: str) -> str:
    """The host in canonical form; refuses spellings that hide an IP address."""
    host = raw_host.lower().rstrip(".")
    if "%" in host:
        raise CallbackRefused("percent-encoded or zone-scoped host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if str(ip) != host:
            raise CallbackRefused("non-canonical IP address in callback URL")
        return host
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # 2130706433, 0177.0.0.1, 0x7f.1, 127.1: resolvers read these as IPv4 addresses.
        raise CallbackRefused("numeric host that is not a canonical IP address")
    if not _HOSTNAME.match(host):
        raise CallbackRefused("malformed host in callback URL")
    return host


class PinnedResolver(AbstractResolver):
    """The HTTP client's only resolver: answers with the guard's validated addresses."""

    def __init__(self, guard: CallbackGuard) -> None:
        self.guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.guard.pinned(_canonical_host(host), port)
        if not addresses:
            raise OSError(f"{host} was not validated by the callback guard")
        results: list[ResolveResult] = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        return None


def describe(target: Any) -> str:
    """What may be logged about a callback target: its host and port, never its query."""
    return f"{target.host}:{target.port}" if isinstance(target, Target) else "?"
