"""Property runs of an OpenAPI document against a running service (schemathesis)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def every_case(document: Path) -> st.SearchStrategy:
    """Valid and invalid requests for every operation of ``document``."""
    schema = schemathesis.openapi.from_path(str(document))
    operations = [
        (path, method.upper())
        for path, item in json.loads(document.read_text())["paths"].items()
        for method in item
        if method != "parameters"
    ]
    return st.one_of(
        *(
            schema[path][method].as_strategy(generation_mode=mode)
            for path, method in operations
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        )
    )


def exchange_all(
    cases: st.SearchStrategy,
    base_url: str,
    *,
    examples: int,
    prepare: Callable[[Any], None] = lambda case: None,
    **call: Any,
) -> set[int]:
    """Send generated requests, each checked against the document; the statuses seen."""
    seen: set[int] = set()
    http = requests.Session()

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=cases)
    def exchange(case: Any) -> None:
        prepare(case)
        response = case.call(base_url=base_url, session=http, timeout=10, **call)
        case.validate_response(response, checks=CHECKS)
        seen.add(response.status_code)

    try:
        exchange()
    finally:
        http.close()
    return seen
