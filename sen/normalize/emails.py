"""Email normalization: trim, lower-case, syntax check with email-validator, junk blocklist."""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from sen.normalize.blocklist import active_blocklist
from sen.normalize.common import (
    BLOCKLISTED,
    EMPTY,
    INVALID_EMAIL,
    Outcome,
    clean_text,
    count_rejection,
)
from sen.normalize.rules import GMAIL_CANONICAL_DOMAIN, GMAIL_DOMAINS, gmail_local_part

# A strict subset of what email-validator accepts (plain ASCII dot-atom local part, LDH domain labels,
# alphabetic TLD that is not a special-use name). Addresses matching it skip the slower validator; anything
# else goes through email-validator, so the fast path never accepts what the validator would reject.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FAST_EMAIL = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?:{_LABEL}\.)+(?P<tld>[a-z]{{2,24}})")
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def _fast_accept(address: str) -> bool:
    m = _FAST_EMAIL.fullmatch(address)
    return (
        m is not None
        and len(address) <= 254
        and len(m.group("local")) <= 64
        and m.group("tld") not in _SPECIAL_TLDS
        and "xn--" not in address  # punycode labels get extra IDNA checks in the validator
    )


def check_email(raw: object) -> Outcome:
    """Normalize one email address; the reason says why it was rejected (not cached)."""
    text = clean_text(raw)
    if text.lower().startswith("mailto:"):
        text = text[7:].strip()
    if not text:
        return Outcome(None, EMPTY)
    address = text.lower()
    if active_blocklist().is_common_junk(address):
        return Outcome(None, BLOCKLISTED)
    if not _fast_accept(address):
        try:
            address = validate_email(address, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            return Outcome(None, INVALID_EMAIL)
    if active_blocklist().is_blocked("email", address):
        return Outcome(None, BLOCKLISTED)
    return Outcome(address)


@lru_cache(maxsize=1 << 18)
def email_outcome(raw: object) -> Outcome:
    """check_email with a per-value cache."""
    return check_email(raw)


def normalize_email(raw: object) -> str | None:
    """Trimmed, lower-cased, syntactically valid email address, or None (junk / invalid, counted)."""
    outcome = email_outcome(raw)
    if outcome.reason:
        count_rejection("email", outcome.reason)
    return outcome.value


_GMAIL_DOMAINS = frozenset(GMAIL_DOMAINS)


def gmail_canonical(email: str) -> str:
    """Gmail ignores dots and '+tags' in the local part: 'A.B+x@googlemail.com' -> 'ab@gmail.com'.

    Input must already be normalized. Other domains are returned unchanged (their rules are not public).
    """
    local, _, domain = email.rpartition("@")
    if domain not in _GMAIL_DOMAINS:
        return email
    return gmail_local_part(local) + "@" + GMAIL_CANONICAL_DOMAIN
