"""At most one log line per interval for events that can come thousands a second (an outage,
a flood of bad secrets); the metrics count every one, the log says how many it skipped."""

from __future__ import annotations

import time
from typing import Any


class LogThrottle:
    def __init__(self, log: Any, interval_s: float = 1.0) -> None:
        self._log = log
        self._interval_s = interval_s
        self._next_at = 0.0
        self._skipped = 0

    def warning(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        if now < self._next_at:
            self._skipped += 1
            return
        self._log.warning(event, skipped_since_last=self._skipped, **fields)
        self._next_at = now + self._interval_s
        self._skipped = 0
