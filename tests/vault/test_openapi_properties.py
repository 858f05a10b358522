"""Property-based run of the vault's OpenAPI document against the vault: valid and invalid
requests (schemathesis' positive and negative modes) with the right token, another scope's
token, an unknown one and none.  Whatever is generated: no 5xx (PostgreSQL and Kafka are
up), a JSON body, and a status and body the document declares."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.support.openapi import every_case, exchange_all
from tests.vault.support import VaultClient

OPENAPI = Path(__file__).parents[2] / "services" / "vault" / "openapi.json"
SCOPES = ("admin", "resolver", "auditor", "unsubscribe", "content", "bogus", None)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
async def test_any_generated_request_gets_a_declared_answer(vault: VaultClient) -> None:
    scopes = random.Random(18)

    def with_a_token(case) -> None:
        case.headers = {
            **{k: v for k, v in (case.headers or {}).items() if k != "Authorization"},
            **vault.headers(scopes.choice(SCOPES)),
        }

    seen = await asyncio.to_thread(
        exchange_all, every_case(OPENAPI), vault.base_url, examples=200, prepare=with_a_token
    )
    # The run reached refusals, invalid requests and accepted ones.
    assert {200, 400, 401, 403} <= seen, seen
