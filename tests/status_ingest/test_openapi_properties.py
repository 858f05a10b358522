"""Property-based run of status ingest's OpenAPI document against the service: generated
webhooks for every provider (unsigned, forged or of any shape), tracking tokens, challenges.
Whatever is generated: no 5xx (Kafka and PostgreSQL are up), and a status and content type
the document declares.  What lies behind each provider's signature is fuzzed in tests/fuzz
(signed by the fuzzer itself)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.status_ingest.conftest import Ingest
from tests.support.openapi import every_case, exchange_all

OPENAPI = Path(__file__).parents[2] / "services" / "status_ingest" / "openapi.json"


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
async def test_any_generated_request_gets_a_declared_answer(ingest: Ingest) -> None:
    seen = await asyncio.to_thread(
        exchange_all, every_case(OPENAPI), ingest.base_url, examples=200, allow_redirects=False
    )
    assert {401, 404} <= seen, seen
