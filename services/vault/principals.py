"""Who may call the vault: named principals, each with one scope and one or more tokens
(several while a token is rotated).  Only SHA-256 digests of the tokens are kept; the
audit log names the principal a token belongs to, never anything the client says.

Provisioned from the environment: each ``BLINDPOST_VAULT_<SCOPE>_TOKEN`` is a principal
named after its scope, and ``BLINDPOST_VAULT_PRINCIPALS`` adds entries
``<principal>:<scope>:<token>`` (comma- or newline-separated), where the token may be given
as ``sha256:<hex digest>`` so that the vault's environment never holds it."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.vault.access import Scope
from services.vault.settings import VaultSettings
from shared.settings import SettingsError

PRINCIPAL_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
SCOPED = (Scope.ADMIN, Scope.RESOLVER, Scope.AUDITOR, Scope.UNSUBSCRIBE, Scope.CONTENT)
# Without a principal for these the vault does not start.  The content scope is not among
# them: a vault upgraded before its clients' secrets (docs/vault.md, "Content keys").
REQUIRED = (Scope.ADMIN, Scope.RESOLVER, Scope.AUDITOR, Scope.UNSUBSCRIBE)
MIN_TOKEN_CHARS = 16
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class Principal:
    name: str
    scope: Scope


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Principals:
    def __init__(self, tokens: Iterable[tuple[bytes, Principal]]) -> None:
        self._tokens = list(tokens)

    def identify(self, presented: str) -> Principal | None:
        """The token's principal.  Every digest is compared, in constant time each, so the
        time taken says nothing about which one (if any) matched."""
        if not presented:
            return None
        wanted = token_digest(presented)
        found = None
        for digest, principal in self._tokens:
            if hmac.compare_digest(wanted, digest):
                found = principal
        return found

    def names(self) -> dict[str, Scope]:
        return {p.name: p.scope for _, p in self._tokens}

    @classmethod
    def from_settings(cls, settings: VaultSettings) -> Principals:
        entries = [
            (scope.value, scope.value, settings.secret(f"vault_{scope.value}_token"))
            for scope in SCOPED
            if settings.secret(f"vault_{scope.value}_token")
        ]
        entries += parse_entries(settings.secret("vault_principals"))
        return cls.from_entries(entries)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str, str]]) -> Principals:
        """``(principal, scope, token)``s, checked: the message names the principal, never a
        token."""
        tokens: list[tuple[bytes, Principal]] = []
        scopes: dict[str, Scope] = {}
        problems: list[str] = []
        for number, (name, scope_name, token) in enumerate(entries, 1):
            if not PRINCIPAL_NAME.fullmatch(name):
                # Not echoed: a misplaced token would be.
                problems.append(f"entry {number}: a principal's name is 1-64 of A-Za-z0-9._-")
                continue
            try:
                scope = Scope(scope_name)
            except ValueError:
                scope = Scope.NONE
            if scope not in SCOPED:
                problems.append(f"principal {name}: unknown scope (one of {_scope_list()})")
                continue
            if scopes.setdefault(name, scope) is not scope:
                problems.append(f"principal {name}: given two scopes; a principal has one")
                continue
            given = _DIGEST.fullmatch(token)
            if given is None and len(token) < MIN_TOKEN_CHARS:
                problems.append(f"principal {name}: a token must be {MIN_TOKEN_CHARS}+ characters")
                continue
            digest = bytes.fromhex(given.group(1)) if given else token_digest(token)
            if any(digest == known for known, _ in tokens):
                problems.append(f"principal {name}: a token is given twice (tokens must differ)")
                continue
            tokens.append((digest, Principal(name, scope)))
        missing = [s.value for s in REQUIRED if s not in scopes.values()]
        if missing:
            problems.append(
                "no principal for the scopes "
                + ", ".join(missing)
                + ": set BLINDPOST_VAULT_<SCOPE>_TOKEN or add them to BLINDPOST_VAULT_PRINCIPALS"
            )
        if problems:
            raise SettingsError("vault principals: " + "; ".join(problems), problems)
        return cls(tokens)


def parse_entries(text: str) -> list[tuple[str, str, str]]:
    entries = []
    items = [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]
    for number, item in enumerate(items, 1):
        name, _, rest = item.partition(":")
        scope, _, token = rest.partition(":")
        if not token:
            raise SettingsError(
                f"BLINDPOST_VAULT_PRINCIPALS: entry {number} is not <principal>:<scope>:<token>"
            )
        entries.append((name, scope, token))
    return entries


def _scope_list() -> str:
    return ", ".join(s.value for s in SCOPED)
