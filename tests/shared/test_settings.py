import pytest
from pydantic import Field, SecretStr

from shared.settings import BlindpostSettings, CsvList, SettingsError


class ExampleSettings(BlindpostSettings):
    intake_secrets: CsvList
    vault_admin_token: SecretStr
    intake_port: int = Field(8080, ge=1, le=65535)


def test_reads_prefixed_variables_and_aliases_from_the_mapping_given():
    settings = ExampleSettings.from_env(
        {
            "BLINDPOST_ENV": "local",  # short test secrets
            "KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9092",
            "BLINDPOST_INTAKE_SECRETS": "old-secret, new-secret",
            "BLINDPOST_VAULT_ADMIN_TOKEN": "t0ken",
        }
    )
    assert settings.kafka.bootstrap_servers == "kafka-0:9092"
    assert settings.intake_secrets == ["old-secret", "new-secret"]
    assert settings.secret("vault_admin_token") == "t0ken"
    assert "t0ken" not in repr(settings)


def test_an_invalid_value_is_named_by_its_variable_and_never_echoed():
    secret = "s3cr3t-value-that-must-not-leak"
    with pytest.raises(SettingsError) as caught:
        ExampleSettings.from_env(
            {
                "BLINDPOST_INTAKE_SECRETS": secret,
                "BLINDPOST_VAULT_ADMIN_TOKEN": secret,
                "BLINDPOST_INTAKE_PORT": secret,
            }
        )
    message = str(caught.value)
    assert "BLINDPOST_INTAKE_PORT" in message
    assert secret not in message
    assert secret not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_a_missing_required_variable_is_named():
    with pytest.raises(SettingsError, match="BLINDPOST_VAULT_ADMIN_TOKEN"):
        ExampleSettings.from_env({"BLINDPOST_INTAKE_SECRETS": "x"})


def test_a_provider_account_is_one_group_every_service_reads_the_same_way():
    from services.dispatch.settings import SmsSettings
    from services.status_ingest.settings import StatusIngestSettings
    from shared.credentials import TwilioAccount

    env = {
        "DATABASE_URL": "postgresql://u@db.invalid/events",
        "BLINDPOST_TRACKING_SECRET": "a-tracking-secret-of-thirty-two-bytes!",
        "BLINDPOST_TWILIO_ACCOUNT_SID": "AC123",
        "BLINDPOST_TWILIO_AUTH_TOKEN": "tw-token-that-signs-webhooks",
    }
    sender, verifier = SmsSettings.from_env(env).twilio, StatusIngestSettings.from_env(env).twilio
    assert isinstance(sender, TwilioAccount) and sender == verifier
    assert sender.require() == ["AC123", "tw-token-that-signs-webhooks"]
    assert "tw-token" not in repr(sender)
