"""Autoscaling follows the consumer groups and topics the code actually uses, and each
service's Kafka user may touch only what that service touches."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.domain import Channel
from shared.topics import DISPATCH, MESSAGE_EVENTS, SUBJECT_FACTS, VAULT_AUDIT, Topics
from tests.helm.chart import ALL_FEATURES, Doc, by_kind, install_helm, render, workloads

PREFIX = "prod."  # the all-features values file's topic prefix

# Service -> (stage of its consumer group, topics it consumes), as wired in each app.py.
CONSUMERS = {
    "resolver": ("resolver", [MESSAGE_EVENTS]),
    "projector": ("projector", [MESSAGE_EVENTS, VAULT_AUDIT]),
    "callback-relay": ("callback-relay", [MESSAGE_EVENTS]),
    "status-ingest": ("status-ingest", [MESSAGE_EVENTS]),
    "intake": ("intake-directory", [SUBJECT_FACTS]),
    **{
        f"dispatch-{channel.value}": (f"dispatch-{channel.value}", [DISPATCH[channel]])
        for channel in Channel
    },
}


@pytest.fixture(scope="module", autouse=True)
def helm() -> Path:
    return install_helm()


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return render(values=ALL_FEATURES)


def test_each_consumer_scales_on_the_lag_of_the_group_and_topics_the_code_uses(docs):
    topics = Topics(PREFIX)
    scaled = {
        s["spec"]["scaleTargetRef"]["name"].removeprefix("bp-blindpost-"): s
        for s in by_kind(docs, "ScaledObject").values()
    }
    assert set(scaled) == set(CONSUMERS)
    for name, (stage, specs) in CONSUMERS.items():
        spec = scaled[name]["spec"]
        kafka = [t["metadata"] for t in spec["triggers"] if t["type"] == "kafka"]
        assert {t["consumerGroup"] for t in kafka} == {topics.group(stage)}, name
        assert sorted(t["topic"] for t in kafka) == sorted(topics.name(s) for s in specs), name
        assert spec["minReplicaCount"] == 1
        assert spec["maxReplicaCount"] <= min(s.partitions for s in specs)
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0


def test_the_cap_follows_the_partition_count(docs):
    smaller = render("kafka.topics.blindpost\\.dispatch\\.sms.partitions=3", values=ALL_FEATURES)
    assert (
        by_kind(smaller, "ScaledObject")["bp-blindpost-dispatch-sms"]["spec"]["maxReplicaCount"]
        == 3
    )


def test_no_workload_has_two_autoscalers_and_autoscaled_ones_leave_replicas_alone(docs):
    targets = [
        d["spec"]["scaleTargetRef"]["name"]
        for d in docs
        if d["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")
    ]
    assert len(targets) == len(set(targets))
    # Deliverability alone is not autoscaled: one worker holds all its tables' partitions.
    for name, workload in workloads(docs).items():
        assert ("replicas" in workload["spec"]) == (name == "deliverability"), name
    cpu = {
        s["spec"]["scaleTargetRef"]["name"].removeprefix("bp-blindpost-")
        for s in docs
        if s["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")
        and "cpu" in str(s["spec"].get("triggers", s["spec"].get("metrics")))
    }
    assert cpu == {"intake", "vault", "status-ingest", "bounce-receiver"}


def test_hpa_alone_scales_on_cpu():
    docs = render("autoscaling.hpa.enabled=true")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {
        "bp-blindpost-intake",
        "bp-blindpost-vault",
        "bp-blindpost-status-ingest",
        "bp-blindpost-bounce-receiver",
    }
    assert not by_kind(docs, "ScaledObject")


def acls(docs: list[Doc]) -> dict[str, list[Doc]]:
    return {
        user["metadata"]["name"].removeprefix("bp-blindpost-kafka-"): user["spec"]["authorization"][
            "acls"
        ]
        for user in by_kind(docs, "KafkaUser").values()
    }


def holders(docs: list[Doc], kind: str, name: str, operation: str) -> set[str]:
    return {
        user
        for user, entries in acls(docs).items()
        for acl in entries
        if acl["resource"]["type"] == kind
        and acl["resource"]["name"] == name
        and operation in acl["operations"]
    }


def test_kafka_users_may_do_only_what_their_service_does(docs):
    topics = Topics(PREFIX)
    # The SMS dispatcher hands on Viber and WhatsApp work written before the split.
    handing_on = {Channel.VIBER: {"dispatch-sms"}, Channel.WHATSAPP: {"dispatch-sms"}}
    for channel in Channel:
        writers = {"intake", "resolver", *handing_on.get(channel, set())}
        assert holders(docs, "topic", topics.dispatch(channel), "Write") <= writers
        assert "resolver" in holders(docs, "topic", topics.dispatch(channel), "Write")
    assert holders(docs, "topic", topics.subject_facts, "Write") == {"vault"}
    assert holders(docs, "topic", topics.vault_audit, "Write") == {"vault"}
    # The suppression list's changes are events (suppression.recorded, .removed).
    assert "vault" in holders(docs, "topic", topics.message_events, "Write")
    for name, (stage, _specs) in CONSUMERS.items():
        assert holders(docs, "group", topics.group(stage), "Read") == {name}
    transactional = [
        (user, acl["resource"])
        for user, entries in acls(docs).items()
        for acl in entries
        if acl["resource"]["type"] == "transactionalId"
    ]
    # Each transactional stage may use only the ids behind its own group's name.
    assert sorted(transactional, key=lambda entry: entry[0]) == [
        (
            stage,
            {
                "type": "transactionalId",
                "name": topics.group(stage) + "-",
                "patternType": "prefix",
            },
        )
        for stage in ("deliverability", "resolver")
    ]
    # faust's changelog topics: created, written and read by deliverability alone.
    internal = [
        (user, acl["resource"]["name"], acl["operations"])
        for user, entries in acls(docs).items()
        for acl in entries
        if acl["resource"]["type"] == "topic" and acl["resource"]["patternType"] == "prefix"
    ]
    assert [(user, name) for user, name, _ops in internal if user != "topics"] == [
        ("deliverability", topics.group("deliverability") + "-")
    ]


def test_strimzi_topics_carry_the_topic_settings(docs):
    kafka_topics = {t["spec"]["topicName"]: t["spec"] for t in by_kind(docs, "KafkaTopic").values()}
    assert kafka_topics[PREFIX + MESSAGE_EVENTS.name]["replicas"] == 3
    assert kafka_topics[PREFIX + MESSAGE_EVENTS.name]["config"]["min.insync.replicas"] == 2
    assert kafka_topics[PREFIX + SUBJECT_FACTS.name]["config"]["cleanup.policy"] == "compact"
    assert "bp-blindpost-topics" not in by_kind(docs, "Job")
