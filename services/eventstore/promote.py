"""``blindpost replay --promote``: swaps a verified rebuild in (blue/green).

In one transaction: the live tables of the rebuilt models are locked against writers
(readers go on), each is compared with its rebuild by checksum once more, and only if every
one agrees — or the operator accepted its difference by name — the live rows are kept in
``<schema>_previous`` and replaced by the rebuilt ones.  Any refusal changes nothing.

The swap copies rows into the live tables rather than renaming tables, so each keeps its
name, indexes, grants and migration history.  A table whose difference is accepted must
not be written meanwhile: stop the stage that writes it first (:func:`promote` refuses an
accepted projection when the event store has grown since the rebuild began).
"""

# ruff: noqa: S608 - every query splices in a checked schema name or a constant table name

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.eventstore.read_models import ALL_MODELS, tables_of
from services.eventstore.shadow import LIVE_SCHEMA, checked, compare_tables

SWAP_TIMEOUT_S = 600.0


class PromotionRefused(RuntimeError):
    def __init__(self, message: str, differences: dict[str, Any]) -> None:
        super().__init__(message)
        self.differences = differences


@dataclass(frozen=True)
class Promotion:
    tables: list[str]
    accepted: list[str]
    previous: str
    comparison: dict[str, Any]


def _refusal(shadow: str, differing: dict[str, Any]) -> str:
    lines = [f"refused: the rebuild in schema {shadow} differs from the live tables; "
             "nothing was changed"]
    for name, report in differing.items():
        live, rebuilt = report["live"], report["rebuilt"]
        lines += [
            f"  {name}: live {live['rows']} rows ({live['sha256'][:12]}), "
            f"rebuilt {rebuilt['rows']} rows ({rebuilt['sha256'][:12]})",
            f"    look: psql \"$DATABASE_URL\" -c \"{report['look']}\"",
        ]
    lines.append(
        "If the rebuild is right (the live table was lost, or this version reads more of the "
        "log), stop the stage that writes it, replay again and promote with "
        + " ".join(f"--accept {name}" for name in differing)
    )
    return "\n".join(lines)


async def promote(
    pool: asyncpg.Pool, shadow: str, accept: Collection[str] = ()
) -> Promotion:
    shadow = checked(shadow)
    previous = checked(f"{shadow}_previous")
    async with pool.acquire() as conn:
        meta = await conn.fetchrow(f"SELECT * FROM {shadow}.replay_meta")
        models = [m for m in ALL_MODELS if {t.name for t in m.tables} <= set(meta["tables"])]
        tables = tables_of(models)
        names = [t.name for t in tables]
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '30s'")
            await conn.execute(
                f"LOCK TABLE {', '.join(f'{LIVE_SCHEMA}.{n}' for n in names)} IN EXCLUSIVE MODE"
            )
            comparison = await compare_tables(conn, shadow, tables)
            differing = {n: r for n, r in comparison.items() if not r["identical"]}
            refused = {n: r for n, r in differing.items() if n not in accept}
            if refused:
                for name, report in refused.items():
                    report["look"] = next(t for t in tables if t.name == name).difference(shadow)
                raise PromotionRefused(_refusal(shadow, refused), refused)
            grown = await conn.fetchval(
                "SELECT count(*) FROM public.events WHERE position > $1", meta["store_position"]
            )
            if grown and "message_state" in differing:
                raise PromotionRefused(
                    f"refused: {grown} events were stored since the rebuild, and the projection "
                    "differs; stop the projector, replay again, then promote", differing,
                )
            for model in models:
                await model.carry_over(conn, shadow)
            await _swap(conn, shadow, previous, names)
    return Promotion(names, sorted(differing), previous, comparison)


async def _swap(conn: asyncpg.Connection, shadow: str, previous: str, names: list[str]) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {previous} CASCADE; CREATE SCHEMA {previous}")
    for name in names:
        live = f"{LIVE_SCHEMA}.{name}"
        await conn.execute(
            f"CREATE TABLE {previous}.{name} (LIKE {live} INCLUDING ALL);"
            f"INSERT INTO {previous}.{name} SELECT * FROM {live};"
            f"TRUNCATE {live};"
            f"INSERT INTO {live} SELECT * FROM {shadow}.{name}",
            timeout=SWAP_TIMEOUT_S,
        )
