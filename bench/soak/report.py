"""The soak's output: a table each minute for whoever watches the run, and the markdown
report (var/soak/report.md) with the per-minute series and the verdict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.soak.growth import Finding, end_level
from bench.soak.probes import Sample

MIB = 2**20


@dataclass(frozen=True)
class Run:
    """What the report says about the run besides its samples."""

    title: str
    settings: list[str]
    counts: dict[str, int]
    findings: list[Finding]
    warmup: int
    final_lag: dict[str, list[int]]


def minute_table(sample: Sample, baseline: Sample | None, minutes: int, previous: Sample) -> str:
    """One minute, as printed while the soak runs."""
    rate = (sample.accepted - previous.accepted) / 60 if sample.minute else 0.0
    lines = [
        f"── minute {sample.minute}/{minutes} · {sample.at:%H:%M:%S} UTC · accepted "
        f"{sample.accepted} ({rate:.1f}/s) · mails {sample.mails} · callbacks {sample.callbacks}",
        f"   {'service':<16}{'RSS MiB':>9}{'vs warm-up':>12}{'fds':>6}",
    ]
    for service, rss in sample.rss.items():
        change = f"{rss / baseline.rss[service] - 1:+.1%}" if baseline else "warm-up"
        lines.append(f"   {service:<16}{rss / MIB:>9.1f}{change:>12}{sample.fds[service]:>6}")
    connections = " · ".join(f"{db} {n}" for db, n in sample.connections.items())
    lag = " · ".join(
        f"{group.removeprefix('blindpost-')} {sum(parts)}" for group, parts in sample.lag.items()
    )
    lines += [f"   connections  {connections}", f"   consumer lag {lag}"]
    return "\n".join(lines)


def markdown(run: Run, samples: Sequence[Sample]) -> str:
    after = samples[run.warmup] if len(samples) > run.warmup else samples[-1]
    steady = samples[run.warmup :] or samples[-1:]
    verdict = (
        "**Passed**: nothing grew without bound, nothing was lost."
        if not run.findings
        else "**Failed**:\n\n" + "\n".join(f"- {finding}" for finding in run.findings)
    )
    parts = [
        f"# {run.title}",
        "\n".join(f"- {line}" for line in run.settings),
        verdict,
        "## Messages",
        table(["count", "value"], [[k, str(v)] for k, v in run.counts.items()]),
        "## Services (after warm-up → end of the run; end = median of the last three minutes)",
        table(
            [
                "service",
                "RSS after warm-up",
                "RSS at end",
                "RSS max",
                "change",
                "fds after warm-up",
                "fds at end",
                "fds max",
            ],
            [
                [
                    service,
                    f"{after.rss[service] / MIB:.1f} MiB",
                    f"{end_level([s.rss[service] for s in steady]) / MIB:.1f} MiB",
                    f"{max(s.rss[service] for s in steady) / MIB:.1f} MiB",
                    f"{end_level([s.rss[service] for s in steady]) / after.rss[service] - 1:+.1%}",
                    str(after.fds[service]),
                    str(steady[-1].fds[service]),
                    str(max(s.fds[service] for s in steady)),
                ]
                for service in after.rss
            ],
        ),
        "## PostgreSQL connections and consumer lag",
        table(
            ["database", "after warm-up", "at end", "max"],
            [
                [
                    db,
                    str(after.connections[db]),
                    str(steady[-1].connections[db]),
                    str(max(s.connections[db] for s in steady)),
                ]
                for db in after.connections
            ],
        ),
        table(
            ["consumer group", "max during the soak", "after the stream stopped"],
            [
                [
                    group,
                    str(max(sum(s.lag.get(group, [])) for s in samples)),
                    str(sum(run.final_lag.get(group, []))),
                ]
                for group in sorted({g for s in samples for g in s.lag})
            ],
        ),
        "## Per minute",
        per_minute("RSS MiB", samples, list(after.rss), lambda s, k: f"{s.rss[k] / MIB:.1f}"),
        per_minute("open fds", samples, list(after.fds), lambda s, k: str(s.fds[k])),
        per_minute(
            "connections", samples, list(after.connections), lambda s, k: str(s.connections[k])
        ),
        per_minute(
            "lag",
            samples,
            sorted({g for s in samples for g in s.lag}),
            lambda s, k: str(sum(s.lag.get(k, []))),
        ),
    ]
    return "\n\n".join(parts) + "\n"


def per_minute(
    what: str, samples: Sequence[Sample], keys: list[str], cell: Callable[[Sample, str], str]
) -> str:
    header = ["minute", "accepted", "mails", "callbacks", *(f"{key} {what}" for key in keys)]
    rows = [
        [
            str(s.minute),
            str(s.accepted),
            str(s.mails),
            str(s.callbacks),
            *(cell(s, k) for k in keys),
        ]
        for s in samples
    ]
    return table(header, rows)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
