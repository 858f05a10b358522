"""Property-based run of the vault's OpenAPI document against the vault: valid and invalid
requests (schemathesis' positive and negative modes) with the right token, another scope's
token, an unknown one and none.  Whatever is generated: no 5xx (PostgreSQL and Kafka are
up), a JSON body, and a status and body the document declares."""

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
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.vault.support import VaultClient

OPENAPI = Path(__file__).parents[2] / "services" / "vault" / "openapi.json"
OPERATIONS = [
    (path, method.upper())
    for path, item in json.loads(OPENAPI.read_text())["paths"].items()
    for method in item
    if method != "parameters"
]
SCOPES = ("admin", "resolver", "auditor", "unsubscribe", "bogus", None)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
async def test_any_generated_request_gets_a_declared_answer(vault: VaultClient) -> None:
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
    @given(case=cases, scope=st.sampled_from(SCOPES))
    def exchange(case, scope) -> None:
        case.headers = {
            **{k: v for k, v in (case.headers or {}).items() if k != "Authorization"},
            **vault.headers(scope),
        }
        response = case.call(base_url=vault.base_url, session=http, timeout=10)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )
        seen.add(response.status_code)

    await asyncio.to_thread(exchange)
    http.close()
    # The run reached refusals, invalid requests and accepted ones.
    assert {200, 400, 401, 403} <= seen, seen
