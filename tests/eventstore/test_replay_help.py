"""An operator whose projector halted because the log was replaced looks at ``blindpost
replay --help`` first: it sends them to the section of the docs that says how to rebuild,
and that section exists under the name it gives."""

from __future__ import annotations

import re

import pytest

from services.cli import build_parser
from tests.support.processes import ROOT


def test_replay_help_points_at_the_docs_for_a_replaced_log(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["replay", "--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert 'docs/event-log.md, "When the log was replaced"' in shown
    assert 'docs/runbooks.md, "BlindpostProjectorHalted"' in shown
    event_log = (ROOT / "docs" / "event-log.md").read_text()
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    assert re.search(r"^## When the log was replaced$", event_log, re.MULTILINE)
    assert re.search(r"^### BlindpostProjectorHalted$", runbooks, re.MULTILINE)
