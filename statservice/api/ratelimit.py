"""Token buckets per organisation (in process, for SQLite's single server process; on PostgreSQL the
buckets are rows, see ``statservice/api/deps.py``): 429 with Retry-After when the bucket is empty."""

from __future__ import annotations

import math
import threading
import time


class TokenBuckets:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; returns 0 if allowed, else the seconds until enough tokens exist."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate

    @staticmethod
    def retry_after_seconds(wait: float) -> int:
        return max(1, math.ceil(wait))
