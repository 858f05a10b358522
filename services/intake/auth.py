"""The ``Authorization`` header against the configured secrets, in constant time.

Every configured secret is compared on every request (no early exit on a match), so the
time taken says nothing about which secret, or how much of one, was right.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence


class SecretChecker:
    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("at least one intake secret is required")
        self._secrets = tuple(secrets)

    def allows(self, header: str | None) -> bool:
        if header is None:
            return False
        presented = header.strip().encode("utf-8", "surrogateescape")
        matched = False
        for secret in self._secrets:
            matched |= hmac.compare_digest(presented, secret)
        return matched
