"""The price of sealing content (issue #15: the end-to-end figure may fall by 10 % at most).

The end-to-end burst (``bench.end_to_end_bench``) run in pairs, content not sealed and
sealed, each on a gateway of its own, SEALING_ROUNDS (3) times, the order alternating so
that a machine speeding up or slowing down during the run favours neither.  This VM's
speed moves between runs a minute apart (its raw SMTP loop did 236-462 mails/s within one
hour), so one pair says little: the rows give the median of each side, compared two ways,
each against a yardstick of its own run:

- the end-to-end rate as a fraction of the raw aiosmtplib loop measured in the same run;
- the gateway's CPU per message, net of idle (``bench.cpu_budget``).
"""

from __future__ import annotations

import os
import statistics
import sys

from bench.common import Row
from bench.end_to_end_bench import MESSAGES, Burst, measure_gateway

ROUNDS = int(os.environ.get("SEALING_ROUNDS") or 3)
NAME = "sealing content"


async def run() -> list[Row]:
    bursts: dict[bool, list[Burst]] = {False: [], True: []}
    for round_ in range(ROUNDS):
        for seal in (False, True) if round_ % 2 == 0 else (True, False):
            burst = await measure_gateway(seal=seal, half_rate=False)
            bursts[seal].append(burst)
            print(
                f"  round {round_ + 1}, sealed={seal}: {burst.of_raw_loop:.3f} of the raw loop,"
                f" {burst.gateway_net_ms:.2f} CPU ms/message net",
                file=sys.stderr,
                flush=True,
            )
    of_raw = {seal: statistics.median(b.of_raw_loop for b in bursts[seal]) for seal in bursts}
    cpu = {seal: statistics.median(b.gateway_net_ms for b in bursts[seal]) for seal in bursts}
    each = {seal: ", ".join(f"{b.of_raw_loop:.2f}" for b in bursts[seal]) for seal in bursts}
    rows = [
        _row(f"not sealed, median of {ROUNDS}", bursts[False], f"of the raw loop: {each[False]}"),
        _row(f"sealed, median of {ROUNDS}", bursts[True], f"of the raw loop: {each[True]}"),
    ]
    change = of_raw[True] / of_raw[False] - 1
    more_cpu = cpu[True] / cpu[False] - 1
    note = (
        f"end to end {100 * change:+.1f} % ({of_raw[False]:.2f} → {of_raw[True]:.2f} of the raw"
        f" loop); CPU per message {100 * more_cpu:+.1f} % ({cpu[False]:.2f} → {cpu[True]:.2f} ms"
        " net)"
    )
    rows.append(Row(NAME, "sealed against not (goal: ≥ -10 %)", 0, 0.0, note=note))
    return rows


def _row(subject: str, bursts: list[Burst], note: str) -> Row:
    """The median burst's end-to-end row, renamed."""
    median = sorted(bursts, key=lambda b: b.of_raw_loop)[len(bursts) // 2]
    e2e = median.rows[0]
    return Row(NAME, subject, MESSAGES, e2e.seconds, note=f"{median.of_raw_loop:.2f} {note}")
