"""Kafka transport security and the topic policy, as an operator sets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.kafka import client_config, prepare_topics
from shared.kafka.admin import TopicsMissing
from shared.settings import KafkaSettings, SettingsError
from shared.topics import MESSAGE_EVENTS, SUBJECT_FACTS


def test_plaintext_by_default_and_a_bootstrap_list_only() -> None:
    config = client_config(KafkaSettings.from_env({}))
    assert config == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_without_a_password_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="BLINDPOST_KAFKA_SASL_PASSWORD is required"):
        KafkaSettings.from_env(
            {
                "BLINDPOST_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "BLINDPOST_KAFKA_SASL_USERNAME": "intake",
            }
        )


def test_a_missing_certificate_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="BLINDPOST_KAFKA_SSL_CA_FILE: no readable file"):
        KafkaSettings.from_env(
            {
                "BLINDPOST_KAFKA_SECURITY_PROTOCOL": "SSL",
                "BLINDPOST_KAFKA_SSL_CA_FILE": str(tmp_path / "absent.pem"),
            }
        )


def test_an_unknown_mechanism_is_refused() -> None:
    with pytest.raises(SettingsError, match="BLINDPOST_KAFKA_SASL_MECHANISM"):
        KafkaSettings.from_env({"BLINDPOST_KAFKA_SASL_MECHANISM": "GSSAPI"})


def test_topic_policy_defaults_suit_a_cluster_and_topics_are_overridable() -> None:
    kafka = KafkaSettings.from_env(
        {
            "BLINDPOST_TOPIC_MESSAGE_EVENTS_PARTITIONS": "24",
            "BLINDPOST_TOPIC_MESSAGE_EVENTS_RETENTION_MS": "86400000",
        }
    )
    policy = kafka.topic_policy()
    assert (policy.replication_factor, policy.min_insync_replicas) == (3, 2)
    events = policy.apply(MESSAGE_EVENTS)
    assert (events.partitions, events.retention_ms) == (24, 86_400_000)
    assert events.config(policy.min_insync_replicas)["min.insync.replicas"] == "2"
    assert policy.apply(SUBJECT_FACTS) == SUBJECT_FACTS
    assert kafka.create_topics is False


def test_a_misspelt_topic_override_is_refused() -> None:
    with pytest.raises(SettingsError, match="BLINDPOST_TOPIC_MESAGE_EVENTS_PARTITIONS"):
        KafkaSettings.from_env({"BLINDPOST_TOPIC_MESAGE_EVENTS_PARTITIONS": "3"})


def test_min_isr_above_replication_is_refused() -> None:
    with pytest.raises(SettingsError, match="BLINDPOST_KAFKA_MIN_INSYNC_REPLICAS exceeds"):
        KafkaSettings.from_env({"BLINDPOST_KAFKA_REPLICATION_FACTOR": "1"})


async def test_a_service_only_checks_its_topics_and_names_what_to_run(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    kafka = KafkaSettings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "BLINDPOST_TOPIC_PREFIX": topic_prefix}
    )
    with pytest.raises(TopicsMissing) as caught:
        await prepare_topics(kafka, [MESSAGE_EVENTS])
    message = str(caught.value)
    assert f"topic {topic_prefix}blindpost.message-events missing" in message
    assert "`blindpost topics create`" in message
