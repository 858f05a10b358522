"""What reached the outside world per accepted message, counted: mails by Message-ID (the
same one again is a redelivery the receiving MTA recognises, a second one a double send),
provider posts by Idempotency-Key (the ext_message_id), callbacks per (message, status)."""

from __future__ import annotations

import email
import email.policy
import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from tests.chaos.stream import FAMILIES
from tests.chaos.world import ChaosWorld, FaultyMailServer
from tests.support.processes import ServiceProcess

UNKNOWN_OUTCOME = "callback outcome unknown"


def mail_message_ids(mails: FaultyMailServer) -> dict[str, Counter[str]]:
    """Per ext_message_id (the left part of the Message-ID): each Message-ID's count."""
    ids: dict[str, Counter[str]] = defaultdict(Counter)
    for _from, _to, data in mails.received:
        message_id = str(email.message_from_bytes(data, policy=email.policy.default)["Message-ID"])
        ids[message_id.strip("<>").split("@")[0]][message_id] += 1
    return ids


def cim_keys(world: ChaosWorld) -> Counter[str]:
    """Custom IM posts per message (the body carries the ext_message_id)."""
    return Counter(str(json.loads(body)["ext_message_id"]) for body, _sig in world.cim)


def unknown_outcomes(processes: list[ServiceProcess]) -> set[tuple[str, str]]:
    """(message, status) the relay called again because a crash cut the previous call
    short or it went unanswered, from its logs: the only repeats its guarantee allows
    (docs/statuses.md)."""
    found = set()
    for process in processes:
        if process.service != "callback-relay" or not process.log_path.exists():
            continue
        for line in process.log_path.read_text(errors="replace").splitlines():
            if UNKNOWN_OUTCOME in line:
                entry = json.loads(line)
                found.add((entry["ext_message_id"], entry["status"]))
    return found


@dataclass(frozen=True)
class Tally:
    counts: dict[str, int]
    unexplained_repeats: set[tuple[str, str]]  # called back twice, outcome known

    @classmethod
    def of(
        cls,
        accepted: dict[str, str],
        mails: FaultyMailServer,
        world: ChaosWorld,
        processes: list[ServiceProcess],
    ) -> Tally:
        family = {f: {m for m, fam in accepted.items() if fam == f} for f in FAMILIES}
        mails_by_mid = mail_message_ids(mails)
        sms = Counter(world.sms_keys)
        cim = cim_keys(world)
        callbacks = Counter((c["ext_message_id"], c["status"]) for c in world.callbacks)
        called_back = {mid for mid, status in callbacks if status == "accepted"}
        repeated = {key for key, n in callbacks.items() if n > 1}
        unknown = unknown_outcomes(processes)
        return cls(
            {
                "accepted e-mails": len(family["email"]),
                "accepted SMS": len(family["sms"]),
                "accepted custom IM": len(family["cim"]),
                "e-mails lost": len(family["email"] - set(mails_by_mid)),
                "e-mails sent twice (a second Message-ID)": sum(
                    len(ids) > 1 for ids in mails_by_mid.values()
                ),
                "e-mail redeliveries (same Message-ID)": sum(
                    n - 1 for ids in mails_by_mid.values() for n in ids.values()
                ),
                "SMS lost": len(family["sms"] - set(sms)),
                "SMS posts repeated (same Idempotency-Key)": sum(n - 1 for n in sms.values()),
                "custom IM lost": len(family["cim"] - set(cim)),
                "custom IM posts repeated (same Idempotency-Key)": sum(
                    n - 1 for n in cim.values()
                ),
                "messages without an accepted callback": len(set(accepted) - called_back),
                "(message, status) called back more than once": sum(
                    n > 1 for n in callbacks.values()
                ),
                "callbacks with an unknown outcome (relay crash, no answer)": len(unknown),
                "  of which Smartico had heard (a repeat)": len(repeated & unknown),
                "mails answered 421": mails.refused,
                "callbacks refused while Smartico was down": world.callbacks_refused,
            },
            repeated - unknown,
        )

    def failures(self) -> list[str]:
        c = self.counts
        lost = [k for k in c if k.endswith("lost") or k.startswith("messages without")]
        failed = [f"{k}: {c[k]}" for k in lost if c[k]]
        if c["e-mails sent twice (a second Message-ID)"]:
            failed.append(f"e-mails sent twice: {c['e-mails sent twice (a second Message-ID)']}")
        if self.unexplained_repeats:
            failed.append(f"called back twice, outcome known: {sorted(self.unexplained_repeats)}")
        return failed

    def table(self) -> str:
        rows = [f"| {k} | {v} |" for k, v in self.counts.items()]
        return "\n".join(["| count | value |", "| --- | --- |", *rows])
