"""Blindpost's Grafana dashboards as code (grafanalib), written as JSON into the Helm chart.

    python deploy/dashboards/generate.py          # rewrite helm/blindpost/dashboards/*.json
    python deploy/dashboards/generate.py --check  # exit 1 if the committed JSON is stale

The panels are in dashboards.py.  grafanalib is a dev dependency only (the production image
installs no extra); docs/observability.md says why grafanalib.  tests/observability checks
the committed JSON is this script's output and runs every query against a real Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboards import DASHBOARDS, Panel  # this directory, put on sys.path by running the script
from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, GridPos, Target, Template, Templating, TimeSeries

OUT = Path(__file__).resolve().parents[2] / "helm" / "blindpost" / "dashboards"
DATASOURCE = "${datasource}"


def build(name: str, title: str, panels: list[Panel]) -> Dashboard:
    return Dashboard(
        title=title,
        uid=f"blindpost-{name}",
        tags=["blindpost"],
        timezone="utc",
        refresh="30s",
        templating=Templating(
            [Template(name="datasource", query="prometheus", type="datasource", label="Prometheus")]
        ),
        panels=[
            TimeSeries(
                title=p.title,
                description=p.description or None,
                dataSource=DATASOURCE,
                unit=p.unit,
                gridPos=GridPos(h=8, w=12, x=12 * (i % 2), y=8 * (i // 2)),
                targets=[
                    Target(
                        expr=q.expr,
                        legendFormat=q.legend,
                        refId=chr(ord("A") + n),
                        datasource=DATASOURCE,
                    )
                    for n, q in enumerate(p.queries)
                ],
            )
            for i, p in enumerate(panels)
        ],
    ).auto_panel_ids()


def render() -> dict[str, str]:
    """File name -> JSON text, as committed in the chart."""
    return {
        f"{name}.json": json.dumps(
            build(name, title, panels).to_json_data(),
            cls=DashboardEncoder,
            indent=2,
            sort_keys=True,
        )
        + "\n"
        for name, (title, panels) in DASHBOARDS.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is stale")
    args = parser.parse_args()
    files = render()
    if args.check:
        stale = [
            n
            for n, text in files.items()
            if not (OUT / n).is_file() or (OUT / n).read_text() != text
        ]
        extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in files)
        for name in stale + extra:
            print(
                f"stale: {OUT / name} (run python deploy/dashboards/generate.py)", file=sys.stderr
            )
        return 1 if stale or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
