"""Kafka transport security for faust, from the same settings as every other client
(``shared.kafka.client_config``, the one place it is read)."""

from __future__ import annotations

from typing import Any

import faust

from shared.kafka import client_config
from shared.kafka_settings import KafkaSettings


def broker_credentials(kafka: KafkaSettings) -> Any:
    config = client_config(kafka)
    protocol = kafka.security_protocol
    if protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=config["sasl_plain_username"],
            password=config["sasl_plain_password"],
            mechanism=config["sasl_mechanism"],
            ssl_context=config.get("ssl_context"),
        )
    if protocol == "SSL":
        return faust.SSLCredentials(config["ssl_context"])
    return None
