"""Item 2 of #16: a custom-IM ``extension`` that no later stage can read (nested ~250 deep:
every consumer's JSON parser stops at its recursion limit, the record is dead-lettered and
Smartico never hears a status) or that the dispatcher would refuse (not the configured
template) is refused by intake with error 2 naming the field, instead of answered 0 and lost."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.cim_template import MAX_BYTES, MAX_DEPTH, MAX_KEYS
from shared.domain import Channel
from shared.events import MessageContent
from shared.work import DispatchWork
from tests.intake.conftest import im_body, running_intake

TEMPLATE = {
    "title": {"type": "string", "required": True},
    "action": {"type": "choice", "choices": ["BUY", "SELL"]},
}


def nested(depth: int) -> dict[str, Any]:
    """An extension ``depth`` objects deep, the outermost included."""
    extension: dict[str, Any] = {"leaf": "x"}
    for _ in range(depth - 1):
        extension = {"a": extension}
    return extension


def test_the_deepest_extension_intake_accepts_is_one_every_later_stage_reads() -> None:
    work = DispatchWork(
        ext_message_id=uuid.uuid4(),
        channel=Channel.CIM,
        ext_user_id="player-1",
        uid="uid-1",
        accepted_at=datetime.now(UTC),
        sealed_recipient="v1.k.a.b.c",
        content=MessageContent(body="hi", extension=nested(MAX_DEPTH)),
    )
    assert DispatchWork.from_bytes(work.to_bytes()).content.extension == nested(MAX_DEPTH)


async def test_intake_refuses_what_no_stage_could_read_or_send(intake_env) -> None:
    intake_env["BLINDPOST_CIM_TEMPLATE"] = json.dumps(TEMPLATE)
    many_keys = {"title": "Hi", **{f"k{i}": "v" for i in range(MAX_KEYS + 1)}}
    refused = {
        "nested 250 deep": (nested(250), "extension is nested deeper than"),
        "one level too deep": (nested(MAX_DEPTH + 1), "extension is nested deeper than"),
        "too many keys": (many_keys, f"extension has more than {MAX_KEYS} keys"),
        "too large": ({"title": "x" * MAX_BYTES}, f"larger than {MAX_BYTES} bytes"),
        "template: missing field": ({"action": "BUY"}, "extension.title is required"),
        "template: not a choice": ({"title": "Hi", "action": "HODL-value"}, "extension.action"),
        "template: unknown field": ({"title": "Hi", "colour": "vermilion-value"}, "colour"),
    }
    async with running_intake(intake_env) as intake:
        for case, (extension, problem) in refused.items():
            answer = await intake.post("/v1/cim", im_body("nobody", extension=extension))
            assert answer["error_code"] == 2, case
            assert problem in answer["error_message"], case
            assert "-value" not in answer["error_message"]  # fields named, values never
        # A good extension passes the checks and reaches the directory (no such user: 1).
        good = im_body("nobody", extension={"title": "Hi", "action": "BUY"})
        assert (await intake.post("/v1/cim", good))["error_code"] == 1


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 250, 5000])
def test_deep_extensions_are_refused_without_recursion(depth: int) -> None:
    from services.intake.requests import InvalidRequest, parse_request

    body = im_body("nobody", extension=nested(depth))
    with pytest.raises(InvalidRequest, match="extension is nested deeper"):
        parse_request(Channel.CIM, body)
