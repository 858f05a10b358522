"""`blindpost vault import FILE`: JSONL and CSV, a progress bar, rejected lines reported by
number and reason (never the value), facts published, and nothing half-written."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys

import asyncpg

from shared.subject_facts import SubjectFacts
from tests.support.kafka import read_topic
from tests.support.processes import ROOT, run_cli
from tests.vault.support import running_vault


def subject_line(n: int) -> str:
    return json.dumps(
        {
            "ext_user_id": f"imp-{n}",
            "email": f"imported.{n}@example.org",
            "phone": f"+4479111{n:05d}",
        }
    )


async def count(dsn: str, table: str = "subjects") -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608 - test's own names
    finally:
        await conn.close()


async def test_jsonl_import_reports_rejected_lines_without_their_values(
    vault_env, vault_dsn, kafka_bootstrap, topics, tmp_path
):
    lines = [subject_line(n) for n in range(40)]
    lines[2] = json.dumps({"ext_user_id": "bad-phone", "phone": "+44 1 SECRETDIGITS 22"})
    lines[6] = "{this is not json"
    lines[8] = json.dumps({"email": "orphan.secret@example.org"})
    lines[11] = json.dumps({"ext_user_id": "bad-mail", "email": "no-at-sign.secret.example.org"})
    path = tmp_path / "subjects.jsonl"
    path.write_text("\n".join(lines) + "\n")

    done = run_cli(vault_env, "vault", "import", str(path), "--batch-size", "7")
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]  # some lines were rejected
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    rejected = [line for line in done.stdout.splitlines() if "rejected:" in line]
    assert [line.split(":")[0] for line in rejected] == ["line 3", "line 7", "line 9", "line 12"]
    assert "phone" in rejected[0] and "ext_user_id" in rejected[2] and "email" in rejected[3]
    assert "imported 36 subjects, rejected 4 lines" in done.stdout
    output = done.stdout + done.stderr
    assert "SECRET" not in output and "secret" not in output
    assert "100%" in done.stderr  # the progress bar

    assert await count(vault_dsn) == 36 and await count(vault_dsn, "data_keys") == 36
    async with running_vault(vault_env) as vault:
        assert (await vault.resolve_one("imp-39", "sms"))["address"] == "+447911100039"
        assert (await vault.resolve_one("imp-0", "email"))["address"] == "imported.0@example.org"
    facts = await read_topic(kafka_bootstrap, topics.subject_facts, expect=36)
    assert len({SubjectFacts.from_bytes(r.value).ext_user_id for r in facts}) == 36


async def test_csv_import_updates_existing_subjects(vault_env, vault_dsn, tmp_path):
    async with running_vault(vault_env) as vault:
        await vault.put("c-1", {"email": "before@example.org", "locale": "de"})
    path = tmp_path / "subjects.csv"
    path.write_text(
        "ext_user_id,email,phone,viber_id,locale,opted_out\n"
        "c-1,after@example.org,,,,sms\n"
        "c-2,,+357 99 123456,vb-2,el,email;whatsapp\n"
        "c-2,,,,en,\n"  # the same subject twice: the later line wins
    )
    done = run_cli(vault_env, "vault", "import", str(path), "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported 3 subjects, rejected 0 lines" in done.stdout
    async with running_vault(vault_env) as vault:
        assert (await vault.resolve_one("c-1", "email"))["address"] == "after@example.org"
        assert (await vault.resolve_one("c-1", "email"))["locale"] == "de"
        assert (await vault.resolve_one("c-2", "viber"))["address"] == "vb-2"
        assert (await vault.resolve_one("c-2", "whatsapp"))["status"] == "opted_out"
        assert (await vault.resolve_one("c-2", "sms"))["locale"] == "en"
    assert await count(vault_dsn) == 2


async def test_strict_import_with_a_rejected_line_writes_nothing(vault_env, vault_dsn, tmp_path):
    path = tmp_path / "subjects.jsonl"
    path.write_text(
        "\n".join([subject_line(1), '{"ext_user_id": "x", "phone": "12"}', subject_line(2)])
    )
    done = run_cli(vault_env, "vault", "import", str(path), "--strict", "--no-progress")
    assert done.returncode == 2 and "nothing written" in done.stderr
    assert await count(vault_dsn) == 0


async def test_a_malformed_file_writes_nothing(vault_env, vault_dsn, tmp_path):
    path = tmp_path / "subjects.csv"
    path.write_bytes(
        b"ext_user_id,email\n"
        + b"".join(f"m-{n},m{n}@example.org\n".encode() for n in range(3000))
        + b"m-x,\xff\xfe broken\n"
    )
    done = run_cli(vault_env, "vault", "import", str(path), "--batch-size", "500", "--no-progress")
    assert done.returncode == 2 and "not UTF-8" in done.stderr
    assert await count(vault_dsn) == 0


async def test_an_import_killed_half_way_leaves_nothing(vault_env, vault_dsn, tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(subject_line(n) for n in range(20_000)) + "\n")
    # Make sure the schema exists, so the import is killed while writing, not migrating.
    async with running_vault(vault_env):
        pass
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "vault",
        "import",
        str(path),
        "--batch-size",
        "500",
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **vault_env},
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert process.stderr is not None
    seen = b""
    try:
        while not re.search(rb"\b([1-9]\d?)%\|", seen):  # some batches written, not all
            chunk = await asyncio.wait_for(process.stderr.read(512), 60)
            assert chunk, seen.decode(errors="replace")[-500:]
            seen += chunk
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert await count(vault_dsn) == 0 and await count(vault_dsn, "data_keys") == 0
    assert await count(vault_dsn, "audit_log") == 0


async def test_each_imported_line_is_audited_by_its_subject(vault_env, vault_dsn, tmp_path):
    """An import of N players leaves N audit rows naming them (a DPO asking what happened
    to one player's data finds the import), besides the import's own summary row."""
    lines = [subject_line(n) for n in range(12)]
    lines[4] = json.dumps({"ext_user_id": "imp-4", "locale": "pt"})  # only some fields
    lines[7] = json.dumps({"ext_user_id": "bad", "phone": "12"})  # rejected: not audited
    path = tmp_path / "subjects.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = run_cli(vault_env, "vault", "import", str(path), "--batch-size", "5", "--no-progress")
    assert done.returncode == 1 and "imported 11 subjects" in done.stdout, done.stderr[-3000:]

    conn = await asyncpg.connect(vault_dsn)
    try:
        rows = await conn.fetch(
            "SELECT ext_user_id, fields, detail, purpose, caller FROM audit_log"
            " WHERE decision = 'imported' ORDER BY seq"
        )
    finally:
        await conn.close()
    *per_subject, summary = rows
    imported = [n for n in range(12) if n != 7]
    assert [r["ext_user_id"] for r in per_subject] == [f"imp-{n}" for n in imported]
    assert [r["detail"] for r in per_subject] == [f"import line {n + 1}" for n in imported]
    assert list(per_subject[4]["fields"]) == ["locale"]
    assert list(per_subject[0]["fields"]) == ["email", "phone"]
    assert {(r["purpose"], r["caller"]) for r in rows} == {("bulk-import", summary["caller"])}
    assert summary["ext_user_id"] is None and summary["detail"] == "imported=11 rejected=1"

    report = run_cli(vault_env, "audit", "pii", "--user", "imp-9", "--format", "json")
    assert report.returncode == 0, report.stderr
    (row,) = json.loads(report.stdout)
    assert (row["decision"], row["purpose"], row["detail"]) == (
        "imported",
        "bulk-import",
        "import line 10",
    )
    assert "imported.9@example.org" not in report.stdout
