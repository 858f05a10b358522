"""Tests that run containers need the Docker engine and the images `make test` builds first;
`make unit` starts neither, so they belong to the integration tier whatever fixtures they use."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)
