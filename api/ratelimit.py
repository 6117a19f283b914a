"""A request budget per caller (per API token; per client address when anonymous): a token bucket
of ITAM_RATE_PER_MINUTE requests (default 600) that refills steadily; an empty bucket answers 429
with Retry-After, the whole seconds until the next request is allowed."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from graph.config import positive_int_env

DEFAULT_PER_MINUTE = 600
MAX_CALLERS = 10_000         # buckets kept; the fullest are forgotten first (a full bucket is the default)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_minute: int = DEFAULT_PER_MINUTE, clock: Callable[[], float] = time.monotonic):
        if per_minute < 1:
            raise ValueError("the rate limit needs at least 1 request per minute")
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}

    def retry_after(self, caller: str) -> int | None:
        """Take one request from the caller's bucket: None if allowed, else the seconds to wait."""
        now = self.clock()
        bucket = self.buckets.get(caller)
        if bucket is None:
            if len(self.buckets) >= MAX_CALLERS:
                self._forget_full(now)
            bucket = self.buckets[caller] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.refill_per_s)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return max(1, math.ceil((1 - bucket.tokens) / self.refill_per_s))

    def _forget_full(self, now: float) -> None:
        def level(item: tuple[str, _Bucket]) -> float:
            return item[1].tokens + (now - item[1].updated) * self.refill_per_s
        for caller, _ in sorted(self.buckets.items(), key=level, reverse=True)[:MAX_CALLERS // 10 or 1]:
            del self.buckets[caller]


def rate_from_env() -> int:
    """ITAM_RATE_PER_MINUTE, or the default."""
    return positive_int_env("ITAM_RATE_PER_MINUTE", DEFAULT_PER_MINUTE)


def worker_share(per_minute: int, workers: int) -> int:
    """One worker's part of the rate, so that N worker processes (each with its own buckets) together
    allow no more than the rate: rounded down, at least 1 per minute."""
    return max(1, per_minute // workers)
