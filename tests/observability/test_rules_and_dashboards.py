"""The alert rules pass promtool's checks and unit tests, each alert has a test that makes it
fire and one that keeps it silent, each links a runbook section whose commands exist, and
the dashboards in the chart are exactly what their generator writes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.observability.prometheus import RULES, ensure_installed
from tests.support.processes import run_cli

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "alerts"
RULE_TESTS = sorted((ALERTS / "tests").glob("*.yaml"))
RUNBOOKS = ROOT / "docs" / "runbooks.md"


@pytest.fixture(scope="module")
def promtool() -> str:
    ensure_installed()
    return "promtool"


def alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_every_rules_file_passes_promtool_check(promtool):
    files = sorted(ALERTS.glob("*.yaml"))
    assert RULES in files
    done = subprocess.run(
        [promtool, "check", "rules", *map(str, files)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_unit_tests_pass(promtool):
    assert RULE_TESTS
    done = subprocess.run(
        [promtool, "test", "rules", *map(str, RULE_TESTS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_has_a_test_that_fires_it_and_one_that_keeps_it_silent():
    fired: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    assert set(alerts()) - fired == set()
    assert set(alerts()) - silent == set()


def test_the_chart_serves_the_same_rules():
    assert (ROOT / "helm" / "blindpost" / "files" / "alerts.yaml").read_text() == RULES.read_text()


def _anchor(heading: str) -> str:
    """GitHub's anchor for a markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_links_a_runbook_section():
    anchors = {
        _anchor(line.lstrip("#"))
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("#")
    }
    for name, rule in alerts().items():
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path == "docs/runbooks.md", name
        assert anchor in anchors, f"{name}: no section #{anchor} in docs/runbooks.md"


def test_every_blindpost_command_in_the_runbooks_exists():
    """Each `blindpost A B` in a code block is a command `blindpost --help` lists."""
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", RUNBOOKS.read_text(), flags=re.S)
    commands = {
        tuple(match.split()[:2])
        for block in blocks
        for match in re.findall(
            r"^\s*(?:\$ )?blindpost ((?:[a-z-]+)(?: [a-z-]+)?)", block, flags=re.M
        )
    }
    assert commands
    env = {"BLINDPOST_ENV_FILE": ""}
    top = run_cli(env, "--help").stdout
    for command in sorted(commands):
        assert re.search(rf"\b{command[0]}\b", top), f"blindpost {command[0]} is not a command"
        if len(command) > 1:
            sub = run_cli(env, command[0], "--help").stdout
            assert re.search(rf"\{{[^}}]*\b{command[1]}\b", sub), f"blindpost {' '.join(command)}"


def test_committed_dashboards_are_the_generators_output():
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "dashboards" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
