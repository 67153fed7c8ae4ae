"""One normalization library for identifiers, used by staging (DuckDB UDFs), identity and reverse ETL.

Scalar functions return the normalized value or None (junk or invalid; rejections are counted, see
`rejection_counts`). Use `normalize_arrow` / `normalize_series` for columns, `register_udfs` for DuckDB.
"""

from sen.normalize.blocklist import Blocklist, BlocklistError, active_blocklist, load_blocklist
from sen.normalize.common import (
    BLOCKLISTED,
    EMPTY,
    INVALID_EMAIL,
    INVALID_PHONE,
    TOO_LONG,
    Outcome,
    flag_counts,
    rejection_counts,
    reset_rejection_counts,
)
from sen.normalize.duckdb_udfs import register_udfs
from sen.normalize.emails import email_outcome, gmail_canonical, normalize_email
from sen.normalize.identifiers import (
    IDENTIFIER_TYPES,
    OPAQUE_TYPES,
    UPPER_CASE_TYPES,
    identifier_outcome,
    normalize_anonymous_id,
    normalize_customer_id,
    normalize_device_id,
    normalize_identifier,
    normalize_loyalty_card,
    normalize_platform_user_id,
    normalize_push_token,
)
from sen.normalize.phones import (
    DEFAULT_REGION,
    UNLISTED_RANGE,
    _phone_digits,
    normalize_phone,
    phone_flag,
    phone_outcome,
    resolve_region,
)
from sen.normalize.vectorized import normalize_arrow, normalize_series


def reload_blocklist() -> Blocklist:
    """Re-read the blocklist (e.g. after changing CDP_BLOCKLIST) and forget cached results."""
    active_blocklist.cache_clear()
    for cached in (email_outcome, phone_outcome, identifier_outcome, _phone_digits):
        cached.cache_clear()
    return active_blocklist()


__all__ = [
    "BLOCKLISTED",
    "DEFAULT_REGION",
    "EMPTY",
    "IDENTIFIER_TYPES",
    "INVALID_EMAIL",
    "INVALID_PHONE",
    "OPAQUE_TYPES",
    "TOO_LONG",
    "UPPER_CASE_TYPES",
    "Blocklist",
    "BlocklistError",
    "Outcome",
    "active_blocklist",
    "email_outcome",
    "gmail_canonical",
    "identifier_outcome",
    "load_blocklist",
    "normalize_anonymous_id",
    "normalize_arrow",
    "normalize_customer_id",
    "normalize_device_id",
    "normalize_email",
    "normalize_identifier",
    "normalize_loyalty_card",
    "normalize_phone",
    "normalize_platform_user_id",
    "normalize_push_token",
    "normalize_series",
    "phone_outcome",
    "register_udfs",
    "flag_counts",
    "phone_flag",
    "UNLISTED_RANGE",
    "rejection_counts",
    "reload_blocklist",
    "reset_rejection_counts",
    "resolve_region",
]
