"""Exceptions raised by the sync engine and destination clients.

The split matters for retries: a RetryableError is retried with backoff, an AmbiguousDeliveryError means
the request may have been processed (it is retried only where resending is harmless), everything else
aborts the run after committing what the destination acknowledged.
"""

from __future__ import annotations


class ReverseEtlError(Exception):
    """Base class for sync errors."""


class SyncConfigError(ReverseEtlError):
    """A sync definition is invalid; the message names the file and the field."""


class MissingSecretError(ReverseEtlError):
    """An environment variable named in a sync definition is not set."""


class DestinationError(ReverseEtlError):
    """A destination refused a whole request (bad token, permissions, malformed request...)."""


class RetryableError(DestinationError):
    """Throttled or transient failure: nothing was applied, retry after a backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AmbiguousDeliveryError(DestinationError):
    """The request left this process but no answer came back: it may or may not have been applied."""


class SyncRunError(ReverseEtlError):
    """A sync run failed; `result` holds what was recorded in sync.sync_runs."""

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result
