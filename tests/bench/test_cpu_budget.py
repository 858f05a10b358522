"""The CPU budget of `make bench`'s end-to-end run: read from /proc, per message."""

from __future__ import annotations

import os
import time

from bench.cpu_budget import OUTSIDE, budget_table, process_seconds


def test_a_busy_process_is_charged_for_its_cpu() -> None:
    before = process_seconds(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    assert process_seconds(os.getpid()) - before >= 0.15


def test_the_table_is_per_message_dearest_first_and_totals_only_the_gateway() -> None:
    before = {"intake": 1.0, "Kafka broker": 2.0, f"{OUTSIDE}poster": 0.0}
    after = {"intake": 1.5, "Kafka broker": 4.0, f"{OUTSIDE}poster": 9.0}
    rows = budget_table(before, after, messages=1000).splitlines()
    assert rows[2:5] == [
        "| Kafka broker | 2.00 |",
        "| intake | 0.50 |",
        "| **gateway total** | **2.50** |",
    ]
    assert rows[5] == f"| {OUTSIDE}poster | 9.00 |"
