"""The command line's own behaviour: a settings problem is one clear line, not a traceback,
and --env-file supplies settings without overriding the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from shared.topics import ALL_TOPICS, Topics

ROOT = Path(__file__).resolve().parents[2]


def blindpost(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_settings_are_named_in_one_line_with_a_hint():
    done = blindpost("audit", "verify")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "BLINDPOST_VAULT_KEKS" in done.stderr
    assert "--env-file deploy/local/blindpost.env" in done.stderr


async def test_env_file_supplies_settings_and_the_environment_wins(
    tmp_path, kafka_bootstrap, topic_prefix
):
    env_file = tmp_path / "settings.env"
    env_file.write_text(
        f"# a comment\nBLINDPOST_TOPIC_PREFIX={topic_prefix}\nKAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\n"
        # One broker here; a topic's partitions overridden by name.
        "BLINDPOST_KAFKA_REPLICATION_FACTOR=1\nBLINDPOST_KAFKA_MIN_INSYNC_REPLICAS=1\n"
        "BLINDPOST_TOPIC_DEAD_LETTER_PARTITIONS=3\n"
    )
    done = blindpost(
        "--env-file",
        str(env_file),
        "topics",
        "create",
        env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
    )
    assert done.returncode == 0, done.stderr
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        created = {t for t in await admin.list_topics() if t.startswith(topic_prefix)}
        (dead_letter,) = await admin.describe_topics([Topics(topic_prefix).dead_letter])
    finally:
        await admin.close()
    # The prefix came from the file; the broker from the environment (the file's is unreachable).
    assert created == {Topics(topic_prefix).name(spec) for spec in ALL_TOPICS}
    assert len(dead_letter["partitions"]) == 3

    missing = blindpost("--env-file", str(tmp_path / "nope.env"), "topics", "create")
    assert missing.returncode == 2 and "cannot read the settings file" in missing.stderr
