"""``make bench``: runs every benchmark module against the real local stack and prints one
table; each benchmark measures its baseline in the same run.

    python -m bench [NAME ...]      (names: see MODULES)
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from datetime import UTC, datetime

from bench.common import Row, machine, render

# Each module has ``async def run() -> list[Row]``.
MODULES = {
    "intake": "bench.intake_bench",
    "vault": "bench.vault_bench",
    "dispatch": "bench.dispatch_bench",
    "callbacks": "bench.callback_bench",
    "eventstore": "bench.eventstore_bench",
    "bounce": "bench.bounce_bench",
    "e2e": "bench.end_to_end_bench",
    "sealing": "bench.sealing_bench",
}


async def main(names: list[str]) -> None:
    rows: list[Row] = []
    for name in names or list(MODULES):
        module = importlib.import_module(MODULES[name])
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(await module.run())
    print(f"Blindpost benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(render(rows))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
