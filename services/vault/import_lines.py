"""Reading an import file, line by line, into validated subject changes: JSONL or CSV
(header-named columns, ``;``-separated opt-outs).  A bad line is rejected by line number and
reason, never by value; a file that cannot be read as a whole aborts the import."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from services.vault.domain import InvalidContact, SubjectChange, parse_change

NumberedChange = tuple[int, SubjectChange]
"""A validated change and the line it came from (for the lines refused later)."""

CSV_COLUMNS = ("ext_user_id", "email", "phone", "viber_id", "whatsapp_id", "locale", "opted_out")


class ImportAborted(Exception):
    """The file cannot be read as a whole; nothing was written."""


@dataclass(frozen=True)
class Rejected:
    line: int
    field: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    facts_published: int = 0
    committed: bool = False

    def reject(self, line: int, field: str, reason: str) -> None:
        self.rejected.append(Rejected(line, field, reason))

    def summary(self) -> str:
        return f"imported {self.imported} subjects, rejected {len(self.rejected)} lines" + (
            "" if self.committed else " (nothing written)"
        )


def _jsonl(handle: IO[bytes]) -> Iterator[tuple[int, object]]:
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except UnicodeDecodeError:
            yield number, InvalidContact("line", "not UTF-8")
        except ValueError:
            yield number, InvalidContact("line", "not a JSON object")


def _csv(handle: IO[bytes]) -> Iterator[tuple[int, object]]:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        reader = csv.DictReader(text)
        if not reader.fieldnames or "ext_user_id" not in reader.fieldnames:
            raise ImportAborted(
                "the CSV header must name ext_user_id (and any of "
                + ", ".join(CSV_COLUMNS[1:])
                + ")"
            )
        for row in reader:
            body: dict[str, object] = {
                key: value
                for key, value in row.items()
                if key is not None and value not in ("", None)
            }
            if None in row:
                yield reader.line_num, InvalidContact("line", "more cells than header columns")
                continue
            if "opted_out" in body:
                body["opted_out"] = [
                    c.strip() for c in str(body["opted_out"]).split(";") if c.strip()
                ]
            yield reader.line_num, body
    except UnicodeDecodeError:
        raise ImportAborted("the file is not UTF-8") from None
    except csv.Error as exc:
        raise ImportAborted(
            f"CSV is malformed near line {exc.args[0] if exc.args else '?'}"
        ) from None
    finally:
        text.detach()


def read_changes(
    handle: IO[bytes], fmt: str, default_region: str | None, rejected: list[Rejected]
) -> Iterator[NumberedChange]:
    records = _csv(handle) if fmt == "csv" else _jsonl(handle)
    for number, record in records:
        try:
            if isinstance(record, InvalidContact):
                raise record
            if not isinstance(record, dict):
                raise InvalidContact("line", "not a JSON object")
            ext_user_id = record.get("ext_user_id")
            yield number, parse_change(ext_user_id, record, default_region)  # type: ignore[arg-type]
        except InvalidContact as exc:
            rejected.append(Rejected(number, exc.field, exc.reason))


def detect_format(path: Path, given: str | None) -> str:
    if given:
        return given
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"
