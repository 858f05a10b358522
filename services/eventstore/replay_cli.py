"""``blindpost replay [--from store|kafka] [--model NAME]... [--into SCHEMA] [--check]
[--promote [--accept TABLE]...] [--format json]``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from services.eventstore.cli import add_format, emit, open_pool, progress_to_stderr, run_async
from services.eventstore.read_models import ALL_MODELS, MODELS, tables_of

# Where an operator turns when the projector halted because the log was replaced: the
# command's help says so, since that is where they look first.
EPILOG = """\
after blindpost.message-events (or the audit topic) was recreated -- a cluster migration,
a restore -- the projector halts (BlindpostProjectorHalted). To rebuild from the new log,
forget the replaced topic's stored positions and restart the projector first: see
docs/event-log.md, "When the log was replaced", and docs/runbooks.md,
"BlindpostProjectorHalted". Then check with --from store --check."""


def register(sub: argparse._SubParsersAction) -> None:
    replay = sub.add_parser(
        "replay",
        help="rebuild the read models into a shadow schema, compare, promote",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("--from", dest="source", choices=("store", "kafka"), default="store",
                        help="the event store (default) or the Kafka topic from its beginning")
    replay.add_argument("--model", action="append", choices=list(MODELS),
                        help="rebuild only this read model (repeatable; default: all)")
    replay.add_argument("--into", default="replay", help="schema for the rebuilt tables")
    replay.add_argument("--check", action="store_true",
                        help="exit 1 unless every rebuilt table equals the live one")
    replay.add_argument("--promote", action="store_true",
                        help="swap the rebuild in if every table equals the live one")
    replay.add_argument("--accept", action="append", default=[],
                        choices=[t.name for t in tables_of(ALL_MODELS) if t.compared],
                        help="with --promote: swap this table in although it differs")
    add_format(replay)
    replay.set_defaults(handler=run_async(_replay))


async def _replay(args: argparse.Namespace) -> int:
    from services.eventstore import promote, replay

    settings, pool = await open_pool()
    topics = settings.topics
    try:
        kafka = settings.kafka
        audit = (kafka, topics.vault_audit)
        if args.source == "kafka":
            events = await replay.replay_from_kafka(
                pool, kafka, topics.message_events, args.into, models=args.model, audit=audit,
                progress=progress_to_stderr,
            )
        else:
            events = await replay.replay_from_store(
                pool, args.into, models=args.model, audit=audit, progress=progress_to_stderr
            )
        report = {"source": args.source, "into": args.into, "events": events,
                  **await replay.compare(pool, args.into)}
        if args.promote:
            done = await promote.promote(pool, args.into, args.accept)
            report["promoted"] = {"tables": done.tables, "accepted": done.accepted,
                                  "previous": done.previous}
    except replay.ReplayError as exc:
        print(f"replay failed: {exc}", file=sys.stderr)
        return 2
    except promote.PromotionRefused as exc:
        emit(args, {**report, "refused": exc.differences}, _text(args, report))
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        await pool.close()
    emit(args, report, _text(args, report))
    return 1 if args.check and not report["identical"] else 0


def _text(args: argparse.Namespace, report: dict[str, Any]) -> str:
    lines = [f"replayed {report['events']} events from the {args.source} into schema "
             f"{args.into}"]
    for name, table in report["tables"].items():
        live, rebuilt = table["live"], table["rebuilt"]
        verdict = "identical" if table["identical"] else "DIFFERENT"
        lines.append(f"  {name:<18} live {live['rows']:>8} rows  rebuilt {rebuilt['rows']:>8} "
                     f"rows  {verdict}")
    if report["skipped"]:
        lines.append("  events this version cannot read, passed by: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(report["skipped"].items())))
    if "promoted" in report:
        promoted = report["promoted"]
        lines.append(f"promoted: {', '.join(promoted['tables'])} (the previous rows are in "
                     f"schema {promoted['previous']})")
    elif report["identical"]:
        lines.append("identical")
    else:
        lines.append("DIFFERENT (expected while a stage is catching up; replay again when idle)")
    return "\n".join(lines)
