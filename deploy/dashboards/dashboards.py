"""What each Blindpost dashboard shows: panels and their PromQL (rendered by generate.py).

Queries read the recording rules of deploy/alerts/blindpost-rules.yaml where one exists
(lag and backlogs are the max across replicas, never a sum: docs/observability.md).
"""

from __future__ import annotations

from dataclasses import dataclass

RATE = "[5m]"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str = ""


def panel(title: str, unit: str, *queries: Query, description: str = "") -> Panel:
    return Panel(title, unit, queries, description)


def p99(metric: str, by: str, selector: str = "") -> str:
    return f"histogram_quantile(0.99, sum by ({by}, le) (rate({metric}_bucket{selector}{RATE})))"


OVERVIEW = [
    panel(
        "Messages accepted per second, by channel",
        "reqps",
        Query(
            'sum by (channel) (rate(blindpost_intake_requests_total{error_code="0"}[5m]))',
            "{{channel}}",
        ),
    ),
    panel(
        "Intake answers other than 'accepted', by error code",
        "reqps",
        Query(
            'sum by (error_code) (rate(blindpost_intake_requests_total{error_code!="0"}[5m]))',
            "code {{error_code}}",
        ),
        description="6 and 9 are ours (they spend the intake-availability error budget); "
        "the rest are the caller's.",
    ),
    panel(
        "Records processed per second, by stage",
        "ops",
        Query("sum by (stage) (rate(blindpost_stage_records_total[5m]))", "{{stage}}"),
    ),
    panel(
        "Resolutions per second, by outcome",
        "ops",
        Query("sum by (outcome) (rate(blindpost_resolver_resolutions_total[5m]))", "{{outcome}}"),
    ),
    panel(
        "Provider outcomes per second, by family",
        "ops",
        Query(
            "sum by (family, outcome) (rate(blindpost_dispatch_outcomes_total[5m]))",
            "{{family}} {{outcome}}",
        ),
    ),
    panel(
        "Time from acceptance to each step (p99)",
        "s",
        Query(p99("blindpost_pipeline_step_seconds", "step, family"), "{{step}} {{family}}"),
        description="Steps: resolved, dispatched (first provider call), provider_accepted; "
        "callback_delivered counts from the status being seen.",
    ),
    panel(
        "Intake latency (p99), by channel",
        "s",
        Query(p99("blindpost_intake_request_duration_seconds", "channel"), "{{channel}}"),
    ),
    panel(
        "SLO burn rate (1 h window; 1 spends the budget in exactly 30 days)",
        "none",
        Query(
            "blindpost:slo_errors:ratio_rate1h / on (slo) group_left () blindpost:slo_error_budget",
            "{{slo}} {{family}}",
        ),
    ),
    panel(
        "Records dead-lettered in the last hour",
        "none",
        Query(
            "sum by (stage, source_topic) (increase(blindpost_dead_lettered_records_total[1h]))",
            "{{stage}} {{source_topic}}",
        ),
    ),
]

KAFKA_LAG = [
    panel(
        "Lag per partition (records)",
        "none",
        Query("blindpost:kafka_consumer_lag_messages:max", "{{group}} {{topic}}/{{partition}}"),
        description="The broker's numbers: the max across the group's replicas, each of "
        "which measures every partition.",
    ),
    panel(
        "Lag per group and topic (records)",
        "none",
        Query("blindpost:kafka_consumer_lag_messages:sum", "{{group}} {{topic}}"),
    ),
    panel(
        "Age of the oldest unprocessed record",
        "s",
        Query(
            "max by (group, topic) (blindpost:kafka_consumer_oldest_unprocessed_age_seconds:max)",
            "{{group}} {{topic}}",
        ),
    ),
    panel(
        "Time to drain (lag / consumption rate)",
        "s",
        Query("blindpost:kafka_consumer_time_to_drain_seconds", "{{group}} {{topic}}"),
        description="+Inf: records wait and the group commits nothing (stalled).",
    ),
    panel(
        "Consumption rate (records committed per second)",
        "ops",
        Query("blindpost:kafka_consumer_consumed:sum_rate5m", "{{group}} {{topic}}"),
    ),
    panel(
        "Backlogs outside Kafka",
        "none",
        Query("blindpost:dispatch_parked:max", "dispatches parked {{family}}"),
        Query("blindpost:callbacks_pending:max", "callbacks pending"),
        Query("blindpost:status_parked:max", "statuses parked"),
    ),
    panel(
        "Batches rolled back and retried, per second",
        "ops",
        Query("sum by (stage) (rate(blindpost_stage_batch_retries_total[5m]))", "{{stage}}"),
    ),
]

VAULT = [
    panel(
        "Contact reads per second, by caller and purpose",
        "ops",
        Query(
            "sum by (caller, purpose) (rate(blindpost_vault_reads_by_purpose_total[5m]))",
            "{{caller}} {{purpose}}",
        ),
    ),
    panel(
        "Contact reads per second, by status",
        "ops",
        Query("sum by (status) (rate(blindpost_vault_contact_reads_total[5m]))", "{{status}}"),
    ),
    panel(
        "Refusals in the last hour, by decision and caller",
        "none",
        Query(
            "sum by (caller, decision) (increase(blindpost_vault_refusals_total[1h]))",
            "{{decision}} {{caller}}",
        ),
    ),
    panel(
        "Integrity failures in the last hour",
        "none",
        Query(
            "sum by (operation) (increase(blindpost_vault_integrity_failures_total[1h]))",
            "{{operation}}",
        ),
    ),
    panel(
        "Audit relay lag (rows committed, not yet on Kafka)",
        "none",
        Query("blindpost:vault_audit_relay_lag_rows:max", "rows"),
    ),
    panel(
        "Requests per second, by operation and decision",
        "reqps",
        Query(
            "sum by (operation, decision) (rate(blindpost_vault_requests_total[5m]))",
            "{{operation}} {{decision}}",
        ),
    ),
    panel(
        "Request latency (p99), by operation",
        "s",
        Query(p99("blindpost_vault_request_duration_seconds", "operation"), "{{operation}}"),
    ),
]

PROVIDERS = [
    panel(
        "Provider calls per second",
        "ops",
        Query(
            "sum by (family, provider) (rate(blindpost_dispatch_attempts_total[5m]))",
            "{{family}} {{provider}}",
        ),
    ),
    panel(
        "Sends and failures per second, by provider",
        "ops",
        Query(
            "sum by (provider, outcome) (rate(blindpost_dispatch_outcomes_total[5m]))",
            "{{provider}} {{outcome}}",
        ),
    ),
    panel(
        "Circuit breaker open (1) per provider",
        "none",
        Query("max by (provider) (blindpost_dispatch_circuit_open)", "{{provider}}"),
    ),
    panel(
        "Provider call latency (p99)",
        "s",
        Query(
            p99("blindpost_dispatch_send_duration_seconds", "family, provider"),
            "{{family}} {{provider}}",
        ),
    ),
    panel(
        "Messages parked on the dispatch ledger",
        "none",
        Query("blindpost:dispatch_parked:max", "{{family}}"),
    ),
    panel(
        "Status webhooks per second, by provider and outcome",
        "reqps",
        Query(
            "sum by (provider, outcome) (rate(blindpost_status_webhooks_total[5m]))",
            "{{provider}} {{outcome}}",
        ),
    ),
]

CALLBACKS = [
    panel(
        "Callbacks pending and in flight",
        "none",
        Query("blindpost:callbacks_pending:max", "pending"),
        Query("sum(blindpost_callbacks_in_flight)", "in flight"),
    ),
    panel(
        "Attempts per second, by outcome",
        "ops",
        Query("sum by (outcome) (rate(blindpost_callback_attempts_total[5m]))", "{{outcome}}"),
    ),
    panel(
        "Statuses Smartico acknowledged, per second",
        "ops",
        Query("sum(rate(blindpost_callbacks_delivered_total[5m]))", "delivered"),
    ),
    panel(
        "Callbacks dead-lettered in the last hour",
        "none",
        Query(
            "sum by (reason) (increase(blindpost_callbacks_dead_lettered_total[1h]))", "{{reason}}"
        ),
    ),
    panel(
        "Attempt latency (p99)",
        "s",
        Query(p99("blindpost_callback_attempt_duration_seconds", "job"), "p99"),
    ),
    panel(
        "Time from a status being seen to Smartico acknowledging it (p99)",
        "s",
        Query(
            p99("blindpost_pipeline_step_seconds", "family", '{step="callback_delivered"}'),
            "{{family}}",
        ),
    ),
]

DASHBOARDS = {
    "overview": ("Blindpost: overview", OVERVIEW),
    "kafka-lag": ("Blindpost: Kafka lag and backlogs", KAFKA_LAG),
    "vault": ("Blindpost: vault", VAULT),
    "providers": ("Blindpost: providers", PROVIDERS),
    "callbacks": ("Blindpost: callbacks to Smartico", CALLBACKS),
}
