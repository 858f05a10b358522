"""Property-based run of the OpenAPI document against intake: valid and deliberately
invalid bodies (schemathesis' positive and negative modes), right, wrong and missing
secrets.  Whatever is generated: HTTP 200, a JSON body, and an answer the contract allows
(error_code 0 with an ext_message_id, or error_code > 0 with an error_message)."""

from __future__ import annotations

import asyncio
import uuid

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

from services.intake.app import OPENAPI
from shared.domain import Channel, ErrorCode
from shared.topics import Topics
from tests.intake.conftest import SECRET, IntakeClient, facts, publish_facts, wait_for_directory

PATHS = [f"/v1/{channel.value}" for channel in Channel]


# schemathesis itself draws from `random` inside its strategies; not ours to fix.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
async def test_any_generated_request_gets_a_contract_answer(
    intake: IntakeClient, kafka_bootstrap: str, topics: Topics, events_dsn: str
):
    user = f"p-{uuid.uuid4().hex[:8]}"
    await publish_facts(kafka_bootstrap, topics, facts(user, set(Channel)))
    await wait_for_directory(events_dsn, user)

    schema = schemathesis.openapi.from_path(str(OPENAPI))
    cases = st.one_of(
        *(
            schema[path]["POST"].as_strategy(generation_mode=mode)
            for path in PATHS
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        )
    )
    seen: set[int] = set()
    http = requests.Session()

    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=cases,
        secret=st.sampled_from([SECRET, SECRET, SECRET, "not-the-secret", None]),
        known_user=st.booleans(),
    )
    def exchange(case, secret, known_user) -> None:
        case.headers = {k: v for k, v in (case.headers or {}).items() if k != "Authorization"}
        if secret is not None:
            case.headers["Authorization"] = secret
        if known_user and isinstance(case.body, dict) and "ext_user_id" in case.body:
            case.body["ext_user_id"] = user
        response = case.call(base_url=intake.base_url, session=http, timeout=10)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )
        answer = response.json()
        code = answer["error_code"]
        seen.add(code)
        if secret != SECRET:
            assert code == ErrorCode.UNAUTHORIZED
        assert code != ErrorCode.INTERNAL_ERROR, answer
        assert code != ErrorCode.TEMPORARILY_UNAVAILABLE, answer  # Kafka and PostgreSQL are up
        if code == ErrorCode.INVALID_REQUEST:
            assert answer["error_message"].strip()

    await asyncio.to_thread(exchange)
    http.close()
    # The run reached every kind of answer the generated input can produce.
    assert {0, 1, 2, 3} <= seen, seen
