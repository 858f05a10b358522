"""The tables as Prometheus metrics, read at each scrape (nothing is copied in between).

A worker exports the counts of the event-log partitions it holds, summed: with the one
replica the chart runs, whole.  With more, each pod exports a part and the alert rules
sum ``blindpost_deliverability_events`` across pods (the ratio gauge is then a pod's).
Windows are the ones containing the scrape's moment: the current hour, and the 24 hours
up to the end of the current hour (the earliest hopping window containing now).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from faust.types.tables import WindowWrapperT
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.deliverability.counting import RATIO_KINDS, ratio, split_key
from services.deliverability.streams import Deliverability

LEVELS = {"ok": 0, "warning": 1, "critical": 2}


class DeliverabilityCollector(Collector):
    def __init__(self, tables: Deliverability) -> None:
        self.tables = tables

    def collect(self) -> Iterator[Metric]:
        events = GaugeMetricFamily(
            "blindpost_deliverability_events",
            "E-mails sent and what became of them (each kind once per message), per sending "
            "domain and provider, in the window",
            labels=["kind", "sending_domain", "provider", "window"],
        )
        ratios = GaugeMetricFamily(
            "blindpost_deliverability_ratio",
            "Share of a sending domain's e-mails sent in the window that were delivered, "
            "bounced, complained of, opened or unsubscribed",
            labels=["kind", "sending_domain", "window"],
        )
        levels = GaugeMetricFamily(
            "blindpost_deliverability_complaint_level",
            "A sending domain's 24 h complaint level: 0 ok, 1 warning, 2 critical "
            "(BLINDPOST_DELIVERABILITY_COMPLAINT_WARNING / _THRESHOLD)",
            labels=["sending_domain"],
        )
        thresholds = self.tables.levels.thresholds
        for window, table in (("1h", self.tables.hourly), ("24h", self.tables.daily)):
            counts: Counter[tuple[str, str, str]] = Counter()
            for key, count in _now(table):
                counts[split_key(key)] += count  # the partitions summed
            totals: Counter[tuple[str, str]] = Counter()
            for (domain, provider, kind), count in sorted(counts.items()):
                events.add_metric([kind, domain, provider, window], count)
                totals[domain, kind] += count
            for domain in sorted({domain for domain, _kind in totals}):
                sent = totals[domain, "sent"]
                for kind in RATIO_KINDS:
                    share = ratio(totals[domain, kind], sent)
                    if share is not None:
                        ratios.add_metric([kind, domain, window], share)
                if window == "24h":
                    level = thresholds.level(totals[domain, "complaint"], sent)
                    levels.add_metric([domain], LEVELS[level])
        yield from (events, ratios, levels)


def _keys(table: WindowWrapperT) -> set[str]:
    return {key for key, _window in list(table.table.data.keys())}


def _value(table: WindowWrapperT, key: str) -> int:
    return int(table[key].now() or 0)


def _now(table: WindowWrapperT) -> Iterator[tuple[str, int]]:
    for key in sorted(_keys(table)):
        if count := _value(table, key):
            yield key, count
