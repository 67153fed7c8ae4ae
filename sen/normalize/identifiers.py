"""Normalization of every identifier type used by identity resolution, behind one dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from sen.normalize.blocklist import active_blocklist
from sen.normalize.common import (
    BLOCKLISTED,
    EMPTY,
    MAX_IDENTIFIER_LENGTH,
    TOO_LONG,
    Outcome,
    clean_text,
    count_rejection,
)
from sen.normalize.emails import check_email
from sen.normalize.phones import DEFAULT_REGION, check_phone

# Opaque ids keep their case (push tokens, UUIDs from SDKs); ids typed by people or printed on cards do not.
from sen.normalize.rules import IDENTIFIER_TYPES, OPAQUE_TYPES, UPPER_CASE_TYPES

__all__ = ["IDENTIFIER_TYPES", "OPAQUE_TYPES", "UPPER_CASE_TYPES"]


def _opaque_outcome(raw: object, identifier_type: str, upper: bool) -> Outcome:
    text = clean_text(raw)
    if not text:
        return Outcome(None, EMPTY)
    if len(text) > MAX_IDENTIFIER_LENGTH:
        return Outcome(None, TOO_LONG)
    blocklist = active_blocklist()
    if blocklist.is_common_junk(text):
        return Outcome(None, BLOCKLISTED)
    value = text.upper() if upper else text
    if blocklist.is_blocked(identifier_type, value):
        return Outcome(None, BLOCKLISTED)
    return Outcome(value)


# Large enough for the distinct values of a big column: an LRU cache smaller than the set of values read in
# a loop never hits.
@lru_cache(maxsize=1 << 20)
def identifier_outcome(raw: object, identifier_type: str, region: str | None = None) -> Outcome:
    """Normalize one identifier of the given type; `region` only matters for phones."""
    if identifier_type == "email":
        return check_email(raw)
    if identifier_type == "phone":
        return check_phone(raw, region or DEFAULT_REGION)
    if identifier_type in UPPER_CASE_TYPES:
        return _opaque_outcome(raw, identifier_type, upper=True)
    if identifier_type in OPAQUE_TYPES:
        return _opaque_outcome(raw, identifier_type, upper=False)
    raise ValueError(
        f"unknown identifier type {identifier_type!r}: expected one of {', '.join(IDENTIFIER_TYPES)}"
    )


def normalize_identifier(raw: object, identifier_type: str, region: str | None = None) -> str | None:
    """Normalized identifier or None (junk / invalid, counted)."""
    outcome = identifier_outcome(raw, identifier_type, region)
    if outcome.reason:
        count_rejection(identifier_type, outcome.reason)
    return outcome.value


def _single_type(identifier_type: str) -> Callable[[object], str | None]:
    def normalize(raw: object) -> str | None:
        return normalize_identifier(raw, identifier_type)

    normalize.__name__ = f"normalize_{identifier_type}"
    normalize.__doc__ = f"Normalized {identifier_type} or None (junk / invalid, counted)."
    return normalize


normalize_customer_id = _single_type("customer_id")
normalize_loyalty_card = _single_type("loyalty_card")
normalize_anonymous_id = _single_type("anonymous_id")
normalize_device_id = _single_type("device_id")
normalize_push_token = _single_type("push_token")
normalize_platform_user_id = _single_type("platform_user_id")
