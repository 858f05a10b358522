"""The vault's access metrics: who reads contacts for what, what it refuses, and stored data
that fails its integrity check.  Labels are the caller's scope (never its free-form name),
the validated purpose and a status word; never a user id."""

from collections.abc import Iterable, Mapping

from prometheus_client import Counter

from services.vault.access import Caller

CONTACT_READS = Counter(
    "blindpost_vault_contact_reads_total", "Contacts resolved, by status", ["status"]
)
READS_BY_PURPOSE = Counter(
    "blindpost_vault_reads_by_purpose_total",
    "Contacts resolved, by the caller's scope, the stated purpose and the status",
    ["caller", "purpose", "status"],
)
REFUSALS = Counter(
    "blindpost_vault_refusals_total",
    "Requests the vault refused (and audited), by the caller's scope and the decision",
    ["caller", "decision"],
)
THROTTLED = Counter(
    "blindpost_vault_throttled_total",
    "Items refused (and audited) for being over a principal's rate, by principal and operation",
    ["principal", "operation"],
)
INTEGRITY_FAILURES = Counter(
    "blindpost_vault_integrity_failures_total",
    "Stored data that failed its integrity check (tampered, moved, or a KEK missing)",
    ["operation"],
)
# Known before the first failure, so a dashboard shows 0 rather than "no data".
for _operation in ("resolve contacts", "read subjects", "write subjects"):
    INTEGRITY_FAILURES.labels(_operation)


def count_reads(caller: Caller, purpose: str, results: Iterable[Mapping[str, object]]) -> None:
    for result in results:
        status = str(result["status"])
        CONTACT_READS.labels(status).inc()
        READS_BY_PURPOSE.labels(caller.scope.value, purpose, status).inc()
        if status == "ticket_refused":  # a refusal like any other, for the refusal alerts
            REFUSALS.labels(caller.scope.value, "refused_ticket").inc()
