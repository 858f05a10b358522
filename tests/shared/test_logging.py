import json

import structlog

from shared.logging import configure_logging, redact_value


def test_redacts_addresses_and_e164_numbers_at_any_depth():
    event = {
        "note": "contact jane.doe+promo@example.co.uk or +44 7911 123456",
        "nested": {"list": ["x", {"deeper": "+35699123456"}], "tuple": ("0035699123456",)},
        "bytes": b"bob@example.com",
        "count": 3,
    }
    redacted = json.dumps(redact_value(event))
    for pii in ("jane.doe+promo@example.co.uk", "7911 123456", "35699123456", "bob@example.com"):
        assert pii not in redacted
    assert "[email redacted]" in redacted and "[phone redacted]" in redacted
    assert '"count": 3' in redacted


def test_ids_offsets_and_timestamps_are_left_alone():
    kept = {
        "ext_message_id": "a540f662-45b3-11ee-be56-0242ac120002",
        "offset": 123456789012,
        "at": "2026-11-27T20:51:00+00:00",
        "ext_user_id": "hhu234556",
    }
    assert redact_value(kept) == kept


def test_configured_logger_emits_json_with_redaction(capsys):
    configure_logging("test-service")
    structlog.get_logger().info(
        "sent", to="alice@example.org", phone="+15551234567", ext_message_id="m-1"
    )
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["service"] == "test-service"
    assert record["ext_message_id"] == "m-1"
    assert "alice@example.org" not in line and "+15551234567" not in line


def test_standard_library_loggers_are_redacted_too(capsys):
    import logging

    configure_logging("test-service")
    logging.getLogger("aiokafka").warning("failed for carol@example.net")
    out = capsys.readouterr().out
    assert "carol@example.net" not in out and "[email redacted]" in out


def test_an_operator_command_logs_to_stderr_and_keeps_stdout_for_its_report(capsys):
    """`blindpost suppressions list --format json | jq` must read JSON, not a warning."""
    import logging

    configure_logging("cli", stream="stderr")
    structlog.get_logger().warning("schema owned by the runtime role")
    logging.getLogger("asyncpg").warning("a library's warning")
    out, err = capsys.readouterr()
    assert out == ""
    assert "schema owned by the runtime role" in err and "a library's warning" in err
    configure_logging("tests")
