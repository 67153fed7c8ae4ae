"""Per-destination request rate limits (token bucket), shared by every sync in the process.

Keyed by destination type and base URL, so two syncs to the same Klaviyo account share one budget and a
slow destination never borrows from another one's.
"""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """`rate` requests per second on average, bursts of up to `burst` requests."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._tokens = self.burst
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until one request may go out; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                delay = (1.0 - self._tokens) / self.rate
            time.sleep(delay)
            waited += delay


_registry: dict[tuple[str, str], TokenBucket] = {}
_registry_lock = threading.Lock()


def limiter_for(destination_type: str, base_url: str, rate: float, burst: float | None) -> TokenBucket:
    """The shared bucket for one destination endpoint (new settings replace the old bucket)."""
    key = (destination_type, base_url.rstrip("/"))
    with _registry_lock:
        bucket = _registry.get(key)
        if bucket is None or bucket.rate != rate or bucket.burst != (burst or max(1.0, rate)):
            bucket = TokenBucket(rate, burst)
            _registry[key] = bucket
        return bucket
