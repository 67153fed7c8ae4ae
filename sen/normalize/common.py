"""Shared pieces of the normalizers: the result type, rejection reasons and counters, text cleaning."""

from __future__ import annotations

import threading
from collections import Counter
from typing import NamedTuple

# Why a value was dropped. Stable strings: they end up in quarantine and audit tables.
EMPTY = "empty"
BLOCKLISTED = "blocklisted"
INVALID_EMAIL = "invalid_email"
INVALID_PHONE = "invalid_phone"
TOO_LONG = "too_long"

MAX_IDENTIFIER_LENGTH = 256
# str.strip() leaves zero-width characters that copy/paste from chat apps and spreadsheets brings along.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


class Outcome(NamedTuple):
    """A normalized value, or None with the reason it was rejected."""

    value: str | None
    reason: str | None = None


def clean_text(raw: object) -> str:
    """Trim whitespace (including non-breaking and zero-width characters); non-strings become text."""
    if raw is None:
        return ""
    text = raw if isinstance(raw, str) else str(raw)
    return text.strip().strip(_INVISIBLE).strip()


_lock = threading.Lock()
_rejections: Counter[tuple[str, str]] = Counter()


def count_rejection(identifier_type: str, reason: str, n: int = 1) -> None:
    # Empty values are the normal case for optional columns; only count real rejections.
    if reason != EMPTY and n:
        with _lock:
            _rejections[(identifier_type, reason)] += n


_flags: Counter[tuple[str, str]] = Counter()


def count_flag(identifier_type: str, flag: str, n: int = 1) -> None:
    """Values kept but flagged (a phone of a range the library does not list yet)."""
    if n:
        with _lock:
            _flags[(identifier_type, flag)] += n


def flag_counts() -> dict[tuple[str, str], int]:
    """Values kept with a flag since the process started (or the last reset), by (identifier_type, flag)."""
    with _lock:
        return dict(_flags)


def rejection_counts() -> dict[tuple[str, str], int]:
    """Rows rejected since the process started (or the last reset), by (identifier_type, reason)."""
    with _lock:
        return dict(_rejections)


def reset_rejection_counts() -> None:
    with _lock:
        _rejections.clear()
        _flags.clear()
