"""Secrets: read only from environment variables, and scrubbed from every text the engine writes.

A destination config names the variable (e.g. `token_env: META_ACCESS_TOKEN`); the value is read when a
client is built, wrapped in `Secret` (whose repr never shows it) and registered with the redactor, which
the engine applies to every error stored in warehouse tables and which a logging filter applies to
every record of the `reverse_etl` logger.
"""

from __future__ import annotations

import logging
import os
import threading

MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_known: set[str] = set()


class Secret:
    """A secret string whose str/repr are masked; `.reveal()` is the only way to read it."""

    __slots__ = ("_value", "env_name")

    def __init__(self, value: str, env_name: str) -> None:
        self._value = value
        self.env_name = env_name
        register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(env={self.env_name!r}, value={MASK!r})"

    __str__ = __repr__

    def __reduce__(self):  # never pickle the value into a subprocess or cache
        raise TypeError("Secret objects cannot be pickled")


def register(value: str) -> None:
    if value and len(value) >= _MIN_LEN:
        with _lock:
            _known.add(value)


def redact(text: object) -> str:
    """Text with every registered secret value replaced by ***."""
    out = str(text)
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in out:
            out = out.replace(value, MASK)
    return out


def read_secret(env_name: str, *, where: str) -> Secret:
    """The value of environment variable `env_name`; `where` says which config field named it."""
    from reverse_etl.errors import MissingSecretError

    value = os.environ.get(env_name)
    if not value:
        raise MissingSecretError(f"environment variable {env_name} (named by {where}) is not set or empty")
    return Secret(value, env_name)


class RedactingFilter(logging.Filter):
    """Masks secrets in log messages and their arguments before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def get_logger(name: str = "reverse_etl") -> logging.Logger:
    logger = logging.getLogger(name)
    root = logging.getLogger("reverse_etl")
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        root.addFilter(RedactingFilter())
    if logger is not root and not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
