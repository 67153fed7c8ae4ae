"""One HTTP request with the sync engine's policies: rate limit, timeout, retries (tenacity).

Retries use exponential backoff with jitter and never wait less than a Retry-After the destination
asked for. A transport failure before the request left (connect error) is always retried; one after
it left (read timeout, connection dropped before the answer) is ambiguous: retried only when the caller
says resending is harmless (`idempotent=True`), otherwise raised as AmbiguousDeliveryError.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import tenacity

from reverse_etl.errors import AmbiguousDeliveryError, RetryableError
from reverse_etl.ratelimit import TokenBucket
from reverse_etl.secrets import get_logger

log = get_logger("reverse_etl.http")

# Raised by httpx before any byte of the request reached the server: always safe to retry.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)
# Raised after the request was (maybe) fully delivered: the server may have processed it.
_MAYBE_SENT = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    jitter_s: float = 0.5
    max_retry_after_s: float = 300.0  # a longer Retry-After fails the batch instead of stalling the run


@dataclass
class RequestStats:
    """Counters shared by all requests of one run (read into sync.sync_runs); lanes update them from
    several threads, hence `add`."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    waits_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


_ssl_context = None


def _shared_ssl_context():
    """One verified SSL context for every client (building one costs ~0.1 s)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


class HttpSender:
    """Sends requests to one destination endpoint under its rate limit and retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        policy: RetryPolicy,
        limiter: TokenBucket,
        stats: RequestStats | None = None,
        client: httpx.Client | None = None,
        max_connections: int = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.limiter = limiter
        self.stats = stats or RequestStats()
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            verify=_shared_ssl_context(),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"HttpSender(base_url={self.base_url!r})"

    def _wait(self, state: tenacity.RetryCallState) -> float:
        attempt = state.attempt_number
        backoff = min(self.policy.max_backoff_s, self.policy.initial_backoff_s * (2 ** (attempt - 1)))
        backoff += random.uniform(0, self.policy.jitter_s)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return max(backoff, retry_after) if retry_after is not None else backoff

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        self.stats.add("retries")
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            self.stats.add("throttled")
        sleep = state.next_action.sleep if state.next_action else 0.0
        self.stats.add("waits_s", sleep)
        log.warning(
            "retrying %s after %.2fs (attempt %d): %s", self.base_url, sleep, state.attempt_number, exc
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        classify: Callable[[httpx.Response], Any],
        idempotent: bool,
        json: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> Any:
        """Send with retries; `classify(response)` raises RetryableError/DestinationError or returns a value.

        Returns what classify returned for the first response it accepted.
        """
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

        def attempt() -> Any:
            self.stats.add("waits_s", self.limiter.acquire())
            self.stats.add("requests")
            try:
                response = self._client.request(
                    method, url, json=json, content=content, headers=headers, params=params, auth=auth
                )
            except _NOT_SENT as exc:
                raise RetryableError(f"{type(exc).__name__} before the request was sent: {exc}") from exc
            except _MAYBE_SENT as exc:
                message = f"{type(exc).__name__} after the request was sent (outcome unknown): {exc}"
                if idempotent:
                    raise RetryableError(message) from exc
                raise AmbiguousDeliveryError(message) from exc
            return classify(response)

        def retry_after_within_bounds(state: tenacity.RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = getattr(exc, "retry_after", None)
            return retry_after is not None and retry_after > self.policy.max_retry_after_s

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.policy.max_attempts) | retry_after_within_bounds,
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(RetryableError),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(attempt)


def error_snippet(response: httpx.Response, limit: int = 300) -> str:
    """A short description of an error response, for messages (redacted by the engine before storage)."""
    text = response.text[:limit] if response.content else ""
    return f"HTTP {response.status_code} {text}".strip()
