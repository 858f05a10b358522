"""The topic registry: every topic the suite uses, its partitions, retention and purpose.

Names are fixed; a prefix (``BLINDPOST_TOPIC_PREFIX``) lets tests and shared clusters
isolate one installation from another.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.domain import Channel

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    partitions: int = 8
    retention_ms: int = 30 * DAY_MS
    compacted: bool = False

    def config(self, min_insync_replicas: int) -> dict[str, str]:
        config = {"min.insync.replicas": str(min_insync_replicas)}
        if self.compacted:
            config["cleanup.policy"] = "compact"
        else:
            config["retention.ms"] = str(self.retention_ms)
        return config


MESSAGE_EVENTS = TopicSpec(
    "blindpost.message-events",
    "the event log: every lifecycle state of every message, key ext_message_id",
    retention_ms=400 * DAY_MS,
)
SUBJECT_FACTS = TopicSpec(
    "blindpost.vault.subject-facts",
    "non-PII facts per subject (exists, channels with an address, opt-outs), key ext_user_id",
    compacted=True,
)
# The key of a signed checkpoint of the vault's audit chain on the audit topic (the other
# records there are audit facts, keyed by message, subject or audit id).
AUDIT_CHECKPOINT_KEY = b"audit-checkpoint"
VAULT_AUDIT = TopicSpec(
    "blindpost.vault.audit",
    "audit facts of every vault access (no values), for the SIEM and the audit join",
    retention_ms=400 * DAY_MS,
)
# One work topic per channel, each read by that channel's own dispatcher (its own lag,
# replicas and rate limit).
DISPATCH = {
    channel: TopicSpec(
        f"blindpost.dispatch.{channel.value}",
        f"{channel.value} work items with sealed addresses; kept briefly",
        retention_ms=2 * DAY_MS,
    )
    for channel in Channel
}
CALLBACKS_DEAD_LETTER = TopicSpec(
    "blindpost.callbacks.dead-letter",
    "status callbacks that ran out of retries",
    partitions=1,
    retention_ms=30 * DAY_MS,
)
DEAD_LETTER = TopicSpec(
    "blindpost.dead-letter",
    "records no stage could parse, with the reason in headers; never blocks a partition",
    partitions=1,
    retention_ms=30 * DAY_MS,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    MESSAGE_EVENTS,
    SUBJECT_FACTS,
    VAULT_AUDIT,
    *DISPATCH.values(),
    CALLBACKS_DEAD_LETTER,
    DEAD_LETTER,
)


@dataclass(frozen=True)
class TopicPolicy:
    """How topics are made: replication, min ISR, and per-topic partitions / retention
    (``KafkaSettings.topic_policy()``; the code defaults suit a cluster of three brokers)."""

    replication_factor: int = 3
    min_insync_replicas: int = 2
    overrides: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def single_broker(cls) -> TopicPolicy:
        """The local broker (tests and benchmarks that name a bootstrap list)."""
        return cls(replication_factor=1, min_insync_replicas=1)

    def apply(self, spec: TopicSpec) -> TopicSpec:
        override = self.overrides.get(spec.name, {})
        return replace(
            spec,
            partitions=override.get("partitions", spec.partitions),
            retention_ms=override.get("retention_ms", spec.retention_ms),
        )


@dataclass(frozen=True)
class Topics:
    """Topic names for one installation (one prefix)."""

    prefix: str = ""

    def name(self, spec: TopicSpec) -> str:
        return self.prefix + spec.name

    def group(self, stage: str) -> str:
        """The one rule for consumer-group names: ``blindpost-<stage>`` behind the prefix,
        so installations (and tests) sharing a cluster never share a group."""
        return f"{self.prefix}blindpost-{stage}"

    @property
    def message_events(self) -> str:
        return self.name(MESSAGE_EVENTS)

    @property
    def subject_facts(self) -> str:
        return self.name(SUBJECT_FACTS)

    @property
    def vault_audit(self) -> str:
        return self.name(VAULT_AUDIT)

    def dispatch(self, channel: Channel) -> str:
        return self.name(DISPATCH[channel])

    @property
    def callbacks_dead_letter(self) -> str:
        return self.name(CALLBACKS_DEAD_LETTER)

    @property
    def dead_letter(self) -> str:
        return self.name(DEAD_LETTER)
