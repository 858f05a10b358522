"""Property-based run of status ingest's OpenAPI document against the service: generated
webhooks for every provider (unsigned, forged or of any shape), tracking tokens, challenges.
Whatever is generated: no 5xx (Kafka and PostgreSQL are up), and a status and content type
the document declares.  What lies behind each provider's signature is fuzzed in
tests/fuzz (signed by the fuzzer itself)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.status_ingest.conftest import Ingest

OPENAPI = Path(__file__).parents[2] / "services" / "status_ingest" / "openapi.json"
OPERATIONS = [
    (path, method.upper())
    for path, item in json.loads(OPENAPI.read_text())["paths"].items()
    for method in item
    if method != "parameters"
]


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
async def test_any_generated_request_gets_a_declared_answer(ingest: Ingest) -> None:
    schema = schemathesis.openapi.from_path(str(OPENAPI))
    cases = st.one_of(
        *(
            schema[path][method].as_strategy(generation_mode=mode)
            for path, method in OPERATIONS
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        )
    )
    seen: set[int] = set()
    http = requests.Session()

    @settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=cases)
    def exchange(case) -> None:
        response = case.call(
            base_url=ingest.base_url, session=http, timeout=10, allow_redirects=False
        )
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, content_type_conformance],
        )
        seen.add(response.status_code)

    await asyncio.to_thread(exchange)
    http.close()
    assert {401, 404} <= seen, seen
