"""A service's ``/metrics`` as a test reads it: one sample's value, so that a test compares
a counter before and after what it does (the registry is the process's, shared by every test
that ran in it before)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


async def sample_value(
    session: aiohttp.ClientSession, base_url: str, name: str, **labels: str
) -> float:
    """The sample ``name`` with exactly ``labels``; 0 when it has not been counted yet."""
    async with session.get(base_url + "/metrics") as response:
        assert response.status == 200, await response.text()
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0
