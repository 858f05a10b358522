"""Plain-text views for the command line (pure): a message's timeline with the vault reads
placed where they happened, a list of messages, and a verification report."""

from __future__ import annotations

from typing import Any

from services.eventstore.chain import Problem

_SKIP = {"channel", "content_sha256"}


def _details(payload: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(payload.items()) if k not in _SKIP)


def timeline_text(view: dict[str, Any]) -> str:
    lines = [f"message {view['ext_message_id']}"]
    state = view["message"]
    if state:
        lines.append(
            f"  channel {state['channel']}  ext_user_id {state['ext_user_id']}  uid {state['uid']}"
        )
        lines.append(
            f"  status {state['status']}  stage {state['stage']}  attempts {state['attempts']}"
            f"  provider {state['provider'] or '-'}"
        )
        if state["callbacks"]:
            callbacks = ", ".join(
                f"{status}: {cb.get('outcome')} after {cb.get('attempts')}"
                for status, cb in sorted(state["callbacks"].items())
            )
            lines.append(f"  callbacks {callbacks}")
    lines.append("timeline")
    reads = list(view["vault_reads"])
    for event in view["events"]:
        while reads and reads[0]["at"] <= event["occurred_at"]:
            lines.append(_read_line(reads.pop(0)))
        line = (
            f"  {event['occurred_at']}  #{event['version']:<3} {event['type']:<28} "
            f"{_details(event['payload'])}"
        )
        if "content_removed" in event:
            line += "  [body removed]" if event["content_removed"] else "  [body kept]"
        lines.append(line.rstrip())
    lines.extend(_read_line(read) for read in reads)
    return "\n".join(lines)


def _read_line(read: dict[str, Any]) -> str:
    return (
        f"  {read['at']}  vault {read['decision']:<8} caller={read['caller']} "
        f"scope={read['scope']} purpose={read['purpose']} fields={','.join(read['fields'])}"
    )


def messages_text(messages: list[dict[str, Any]]) -> str:
    if not messages:
        return "no messages found"
    lines = [
        f"{'ext_message_id':<36}  {'channel':<8} {'status':<12} {'stage':<17} "
        f"{'accepted_at':<27} ext_user_id"
    ]
    for m in messages:
        lines.append(
            f"{m['ext_message_id']:<36}  {m['channel'] or '-':<8} {m['status'] or '-':<12} "
            f"{m['stage'] or '-':<17} {m['accepted_at'] or '-':<27} {m['ext_user_id'] or '-'}"
        )
    return "\n".join(lines)


def verification_text(streams: int, rows: int, problems: list[Problem]) -> str:
    if not problems:
        return f"event store verified: {streams} streams, {rows} rows, every chain intact"
    lines = [
        f"event store NOT verified: {len(problems)} problem(s) in {streams} streams, {rows} rows",
        f"first bad row: {problems[0].describe()}",
    ]
    lines.extend(f"  {p.describe()}" for p in problems[1:])
    return "\n".join(lines)
