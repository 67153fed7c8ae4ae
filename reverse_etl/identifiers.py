"""Destination-specific normalization and hashing of customer identifiers.

Every rule lives here twice, side by side: a Python function for single values (used by clients, tests
and the rare slow path) and a SQL expression builder for DuckDB (used by the sync engine so a million
rows are normalized and hashed in the warehouse, vectorized). Tests assert that both give the same
output on a shared corpus, so they cannot drift apart.

Rules (see docs/reverse_etl.md):
- Meta: email trim+lowercase; phone digits with country code, no '+', no leading zeros; first/last name
  lowercase, letters only (UTF-8 letters kept); country lowercase ISO alpha-2. All SHA-256 hex.
- Google (Data Manager): email lowercase with all whitespace removed, and for gmail.com/googlemail.com
  every '.' in the local part removed and '+suffix' dropped; phone E.164 with '+'; names lowercase, no
  punctuation, trimmed; region code uppercase alpha-2 and not hashed.
- Zalo: phone as E.164 digits without '+' (84...).
- A value that already is a SHA-256 hex digest (64 hex chars) passes through, lowercased.

Phones: parsed by the project normalizer (sen.normalize.normalize_phone, built on `phonenumbers`) with a
configurable default region (VN). In SQL a value that already is canonical E.164 ('+' then 7-15 digits,
as the identity layer stores it after that same normalizer) takes a fast path; any other spelling is parsed
in Python (see `e164`) once per distinct value and joined back. Emails: audiences carry addresses already
validated and junk-filtered by sen.normalize; the rules here only add each destination's own step (trim,
lower-case, Google's gmail rule) and a cheap shape check, so they run in SQL.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# The shared identifier rules (default region, email shape, gmail domains): sen/normalize/rules.py.
from sen.normalize.rules import (
    DEFAULT_PHONE_REGION,
    EMAIL_SHAPE_RE,
    GMAIL_DOMAINS,
    SQL_EMAIL_SHAPE,
    gmail_local_part,
)

DEFAULT_REGION = DEFAULT_PHONE_REGION

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_EMAIL_SHAPE = EMAIL_SHAPE_RE
_E164_CANONICAL = re.compile(r"\+[1-9][0-9]{6,14}")
_ALPHA2 = re.compile(r"[a-z]{2}")
_GMAIL_DOMAINS = GMAIL_DOMAINS

# SQL twins of the regexes above (RE2 syntax, used with regexp_full_match).
SQL_HEX64 = "[0-9a-fA-F]{64}"
SQL_E164_CANONICAL = r"\+[1-9][0-9]{6,14}"
# What Python's str.isspace() treats as whitespace, in RE2 terms (DuckDB's trim() only strips spaces).
SQL_WS = r"[\s\x{0B}\x{1C}-\x{1F}\x{85}\pZ]"


# ---------------------------------------------------------------- generic helpers


def _clean(raw: object) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def is_sha256_hex(value: object) -> bool:
    """True when value already is a SHA-256 hex digest (64 hex characters)."""
    return isinstance(value, str) and _HEX64.fullmatch(value.strip()) is not None


def sha256_hex(normalized: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of an already normalized value."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def hash_identifier(raw: object, normalizer: Callable[[object], str | None]) -> str | None:
    """Normalize then hash; an already-hashed input passes through (lowercased); invalid -> None."""
    if raw is None:
        return None
    if is_sha256_hex(raw):
        return str(raw).strip().lower()
    normalized = normalizer(raw)
    return None if normalized is None else sha256_hex(normalized)


# ---------------------------------------------------------------- email


def meta_email(raw: object) -> str | None:
    """Meta: trim and lowercase; None when it is not shaped like an email."""
    text = _clean(raw)
    if text is None:
        return None
    email = _lower(text)
    return email if _EMAIL_SHAPE.fullmatch(email) else None


def google_email(raw: object) -> str | None:
    """Google: lowercase, all whitespace removed; gmail/googlemail drop dots and '+tag' in the local part."""
    if raw is None:
        return None
    email = _lower("".join(str(raw).split()))
    if not email or not _EMAIL_SHAPE.fullmatch(email):
        return None
    local, _, domain = email.partition("@")
    if domain in _GMAIL_DOMAINS:
        local = gmail_local_part(local)
        if not local:
            return None
    return f"{local}@{domain}"


# ---------------------------------------------------------------- phone


def e164(raw: object, default_region: str = DEFAULT_REGION) -> str | None:
    """E.164 with '+' (e.g. +84912345678) for a valid number, else None.

    Parsing is the project normalizer's (sen.normalize.normalize_phone: phonenumbers, the default region,
    Vietnam's 2018 mobile prefix migration, junk blocklist), so every layer reads a phone the same way."""
    text = _clean(raw)
    if text is None:
        return None
    from sen.normalize import normalize_phone  # imported on first use: it loads pandas/pyarrow

    return normalize_phone(text, default_region=default_region)


def e164_fast(raw: object, default_region: str = DEFAULT_REGION) -> str | None:
    """What the SQL path does: canonical E.164 input is trusted as is, anything else goes to `e164`."""
    text = _clean(raw)
    if text is None:
        return None
    if _E164_CANONICAL.fullmatch(text):
        return text
    return e164(text, default_region)


def meta_phone(raw: object, default_region: str = DEFAULT_REGION) -> str | None:
    """Meta: digits only with country code, no '+', no leading zeros (0912 345 678 -> 84912345678)."""
    number = e164_fast(raw, default_region)
    return None if number is None else number[1:]


def google_phone(raw: object, default_region: str = DEFAULT_REGION) -> str | None:
    """Google: E.164 with the '+' sign."""
    return e164_fast(raw, default_region)


def zalo_phone(raw: object, default_region: str = DEFAULT_REGION) -> str | None:
    """Zalo ZNS: 84... (E.164 digits without '+'; a national leading 0 becomes the country code)."""
    return meta_phone(raw, default_region)


# ---------------------------------------------------------------- names, country


def _lower(text: str) -> str:
    # Python lowercases U+0130 (dotted capital I) to two code points, DuckDB to plain 'i': match DuckDB.
    return text.replace("\u0130", "i").lower()


def _nfc_lower(text: str) -> str:
    return _lower(unicodedata.normalize("NFC", text))


def _is_letter_or_mark(ch: str) -> bool:
    return ch.isalpha() or unicodedata.category(ch).startswith("M")


def meta_name(raw: object) -> str | None:
    """Meta FN/LN: lowercase, letters only (UTF-8 letters such as 'ễ' kept), no spaces or punctuation."""
    text = _clean(raw)
    if text is None:
        return None
    name = "".join(ch for ch in _nfc_lower(text) if _is_letter_or_mark(ch))
    return name or None


def google_name(raw: object) -> str | None:
    """Google given/family name: lowercase, punctuation removed, inner spaces collapsed, trimmed."""
    text = _clean(raw)
    if text is None:
        return None
    kept = "".join(ch if (_is_letter_or_mark(ch) or ch.isspace()) else "" for ch in _nfc_lower(text))
    name = " ".join(kept.split())
    return name or None


def meta_country(raw: object) -> str | None:
    """Meta COUNTRY: lowercase ISO-3166 alpha-2 ('VN' -> 'vn')."""
    text = _clean(raw)
    if text is None:
        return None
    code = _lower(text)
    return code if _ALPHA2.fullmatch(code) else None


def region_code(raw: object) -> str | None:
    """Google regionCode: uppercase ISO-3166 alpha-2, sent in clear."""
    code = meta_country(raw)
    return None if code is None else code.upper()


def meta_compact(raw: object) -> str | None:
    """Meta CT/ST/ZIP: lowercase with every space removed."""
    text = _clean(raw)
    if text is None:
        return None
    return "".join(_nfc_lower(text).split()) or None


def meta_gender(raw: object) -> str | None:
    """Meta GEN: 'm' or 'f' from m/f/male/female (any case); anything else is unknown."""
    text = _clean(raw)
    if text is None:
        return None
    return {"m": "m", "male": "m", "f": "f", "female": "f"}.get(_lower(text))


_GRANTED = ("granted", "true", "t", "yes", "y", "1")
_DENIED = ("denied", "false", "f", "no", "n", "0")


def consent_status(raw: object) -> str | None:
    """Google Data Manager ConsentStatus from a boolean-ish column: CONSENT_GRANTED / CONSENT_DENIED,
    unknown -> None."""
    text = _clean(raw)
    if text is None:
        return None
    text = _lower(text)
    if text in _GRANTED:
        return "CONSENT_GRANTED"
    if text in _DENIED:
        return "CONSENT_DENIED"
    return None


def plain_text(raw: object) -> str | None:
    """Unhashed pass-through (trimmed); used for EXTERN_ID, tokens and free fields."""
    return _clean(raw)


# ---------------------------------------------------------------- SQL twins
#
# Every builder below takes a *cleaned* expression (`sql_clean`: trimmed like str.strip(), '' -> NULL), so
# the engine can clean each column once and reference the result; phone builders take an E.164 expression.

# the characters str.isspace() accepts, for DuckDB's trim(string, characters)
_WS_CHARS = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def sql_clean(expr: str) -> str:
    """Trimmed text or NULL, like `_clean` (str.strip()). The regex runs only when the first or last
    character is whitespace: ten times cheaper than trimming every value (DuckDB's trim() knows only ' ')."""
    chars = _WS_CHARS.replace("'", "''")
    v = f"CAST({expr} AS VARCHAR)"
    edge = f"contains('{chars}', left({v}, 1)) OR contains('{chars}', right({v}, 1))"
    return f"nullif(CASE WHEN {edge} THEN regexp_replace({v}, '^{SQL_WS}+|{SQL_WS}+$', '', 'g') ELSE {v} END, '')"


def sql_meta_email(c: str) -> str:
    # the shape check ignores case, so it runs before lower()
    return f"(CASE WHEN regexp_full_match({c}, '{SQL_EMAIL_SHAPE}') THEN lower({c}) END)"


def sql_google_email(c: str) -> str:
    e = f"lower(regexp_replace({c}, '{SQL_WS}', '', 'g'))"
    local = f"split_part({e}, '@', 1)"
    domain = f"split_part({e}, '@', 2)"
    gmail_local = f"replace(split_part({local}, '+', 1), '.', '')"
    return (
        f"(CASE WHEN NOT regexp_full_match({e}, '{SQL_EMAIL_SHAPE}') THEN NULL "
        f"WHEN {domain} IN ({', '.join(repr(d) for d in GMAIL_DOMAINS)}) THEN "
        f"CASE WHEN {gmail_local} = '' THEN NULL ELSE {gmail_local} || '@' || {domain} END "
        f"ELSE {e} END)"
    )


def sql_is_canonical_e164(c: str) -> str:
    return f"regexp_full_match({c}, '{SQL_E164_CANONICAL}')"


def sql_e164_fast(c: str, slow_path_expr: str) -> str:
    """Canonical E.164 kept as is; otherwise the value looked up from the phonenumbers slow path."""
    return f"(CASE WHEN {sql_is_canonical_e164(c)} THEN {c} ELSE {slow_path_expr} END)"


def sql_strip_plus(e164_expr: str) -> str:
    return f"substr({e164_expr}, 2)"


def sql_meta_name(c: str) -> str:
    return f"nullif(regexp_replace(lower(nfc_normalize({c})), '[^\\pL\\pM]', '', 'g'), '')"


def sql_google_name(c: str) -> str:
    ws = SQL_WS[1:-1]
    kept = f"regexp_replace(lower(nfc_normalize({c})), '[^\\pL\\pM{ws}]', '', 'g')"
    collapsed = f"regexp_replace({kept}, '{SQL_WS}+', ' ', 'g')"
    return sql_clean(collapsed)


def sql_meta_country(c: str) -> str:
    return f"(CASE WHEN regexp_full_match({c}, '[A-Za-z]{{2}}') THEN lower({c}) END)"


def sql_region_code(c: str) -> str:
    return f"(CASE WHEN regexp_full_match({c}, '[A-Za-z]{{2}}') THEN upper({c}) END)"


def sql_meta_compact(c: str) -> str:
    return f"nullif(regexp_replace(lower(nfc_normalize({c})), '{SQL_WS}', '', 'g'), '')"


def sql_meta_gender(c: str) -> str:
    return f"(CASE WHEN lower({c}) IN ('m', 'male') THEN 'm' WHEN lower({c}) IN ('f', 'female') THEN 'f' END)"


def sql_consent_status(c: str) -> str:
    granted = ", ".join(f"'{v}'" for v in _GRANTED)
    denied = ", ".join(f"'{v}'" for v in _DENIED)
    return f"(CASE WHEN lower({c}) IN ({granted}) THEN 'CONSENT_GRANTED' WHEN lower({c}) IN ({denied}) THEN 'CONSENT_DENIED' END)"


def sql_plain_text(c: str) -> str:
    return c


def sql_hashed(c: str, normalized_expr: str) -> str:
    """SHA-256 hex of the normalized value (NULL stays NULL); a 64-hex-char input passes through lowercased."""
    is_hex = f"length({c}) = 64 AND regexp_full_match({c}, '{SQL_HEX64}')"
    return f"(CASE WHEN {is_hex} THEN lower({c}) ELSE sha256({normalized_expr}) END)"


# ---------------------------------------------------------------- transform registry


@dataclass(frozen=True)
class Transform:
    """One destination rule: how to turn a raw column into what the destination receives."""

    name: str
    normalize: Callable[[object, str], str | None]  # (raw, default_region) -> normalized or None
    sql: Callable[[str], str]  # normalized SQL from a cleaned SQL expr (phones: from an E.164 expr)
    hashed: bool
    phone: bool = False  # input goes through the E.164 fast/slow path first
    few_values: bool = False  # names, countries...: computed once per distinct value, then joined

    def apply(self, raw: object, default_region: str = DEFAULT_REGION) -> str | None:
        if self.hashed:
            return hash_identifier(raw, lambda value: self.normalize(value, default_region))
        return self.normalize(raw, default_region)


def _region_free(fn: Callable[[object], str | None]) -> Callable[[object, str], str | None]:
    return lambda raw, _region: fn(raw)


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("text", _region_free(plain_text), sql_plain_text, hashed=False),
        Transform("meta_email_sha256", _region_free(meta_email), sql_meta_email, hashed=True),
        Transform("google_email_sha256", _region_free(google_email), sql_google_email, hashed=True),
        Transform("email", _region_free(meta_email), sql_meta_email, hashed=False),
        Transform("meta_phone_sha256", meta_phone, sql_strip_plus, hashed=True, phone=True),
        Transform("google_phone_sha256", google_phone, lambda e: e, hashed=True, phone=True),
        Transform("e164", google_phone, lambda e: e, hashed=False, phone=True),
        Transform("zalo_phone", zalo_phone, sql_strip_plus, hashed=False, phone=True),
        Transform("meta_name_sha256", _region_free(meta_name), sql_meta_name, hashed=True, few_values=True),
        Transform(
            "google_name_sha256", _region_free(google_name), sql_google_name, hashed=True, few_values=True
        ),
        Transform(
            "meta_country_sha256", _region_free(meta_country), sql_meta_country, hashed=True, few_values=True
        ),
        Transform("region_code", _region_free(region_code), sql_region_code, hashed=False, few_values=True),
        Transform(
            "meta_compact_sha256", _region_free(meta_compact), sql_meta_compact, hashed=True, few_values=True
        ),
        Transform(
            "meta_gender_sha256", _region_free(meta_gender), sql_meta_gender, hashed=True, few_values=True
        ),
        Transform(
            "consent_status", _region_free(consent_status), sql_consent_status, hashed=False, few_values=True
        ),
    )
}


def transform_sql(transform: Transform, clean_expr: str, e164_expr: str | None = None) -> str:
    """The SQL for a transform over a cleaned expression (see `sql_clean`): normalize, then hash unless
    the value already is a digest. Phone transforms also need the column's E.164 expression."""
    if transform.phone:
        if e164_expr is None:
            raise ValueError(f"transform {transform.name} needs the E.164 expression of its column")
        normalized = transform.sql(e164_expr)
    else:
        normalized = transform.sql(clean_expr)
    return sql_hashed(clean_expr, normalized) if transform.hashed else normalized
