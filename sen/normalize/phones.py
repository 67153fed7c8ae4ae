"""Phone normalization to E.164 with the phonenumbers library (Vietnamese formats by default)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, PhoneNumberType

from sen.normalize.blocklist import active_blocklist
from sen.normalize.common import (
    BLOCKLISTED,
    EMPTY,
    INVALID_PHONE,
    Outcome,
    clean_text,
    count_flag,
    count_rejection,
)
from sen.normalize.rules import DEFAULT_PHONE_REGION

DEFAULT_REGION = DEFAULT_PHONE_REGION
_MAX_PHONE_LENGTH = 48
_NON_DIGITS = re.compile(r"\D+")

# Vietnam moved 11-digit mobile numbers to 10 digits in 2018 (old prefix -> new prefix, national format
# without the trunk 0). CRM exports still hold the old form; phonenumbers now rejects it as invalid.
_VN_LEGACY_MOBILE_PREFIXES = {
    "162": "32", "163": "33", "164": "34", "165": "35", "166": "36", "167": "37", "168": "38", "169": "39",
    "120": "70", "121": "79", "122": "77", "126": "76", "128": "78",
    "123": "83", "124": "84", "125": "85", "127": "81", "129": "82",
    "186": "56", "188": "58", "199": "59",
}  # fmt: skip


def resolve_region(region: str | None) -> str:
    """Upper-cased ISO region code; None/'' -> the default (VN). Unknown codes raise ValueError."""
    code = (region or DEFAULT_REGION).strip().upper() or DEFAULT_REGION
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {region!r}: expected an ISO 3166 code such as 'VN'")
    return code


def _valid_number(text: str, region: str | None) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if phonenumbers.is_valid_number(number):
        return number
    if number.country_code == 84:
        national = str(number.national_number)
        new_prefix = _VN_LEGACY_MOBILE_PREFIXES.get(national[:3])
        if new_prefix and len(national) == 10:
            migrated = phonenumbers.parse("+84" + new_prefix + national[3:], None)
            if phonenumbers.is_valid_number(migrated):
                return migrated
    return None


# Spellings made of digits and punctuation only: '0912 345 678', '0912-345-678', '(091) 2345678' are read
# once, as their digits (keeping a leading '+'). Anything else (letters, 'ext') is read as typed.
_PUNCTUATED_DIGITS = re.compile(r"\+?[\d\s().\-/]+")


def check_phone(raw: object, region: str | None = None) -> Outcome:
    """Normalize one phone number to E.164; the reason says why it was rejected (cached per digits)."""
    text = clean_text(raw)
    if text and _PUNCTUATED_DIGITS.fullmatch(text):
        digits = _NON_DIGITS.sub("", text)
        return _phone_digits(("+" if text.startswith("+") else "") + digits, region)
    return _check_phone_text(text, region)


@lru_cache(maxsize=1 << 18)
def _phone_digits(text: str, region: str | None) -> Outcome:
    return _check_phone_text(text, region)


def _check_phone_text(text: str, region: str | None) -> Outcome:
    if not text:
        return Outcome(None, EMPTY)
    blocklist = active_blocklist()
    if blocklist.is_common_junk(text):
        return Outcome(None, BLOCKLISTED)
    digits = _NON_DIGITS.sub("", text)
    if not digits or len(text) > _MAX_PHONE_LENGTH:
        return Outcome(None, INVALID_PHONE)
    if blocklist.is_blocked("phone", digits):
        return Outcome(None, BLOCKLISTED)
    number = _valid_number(text, resolve_region(region))
    if number is None and not text.startswith("+"):
        # '84912345678': a country code typed without '+' (invalid as a national number of the region).
        number = _valid_number("+" + digits, None)
    flag = None
    if number is None:
        # Metadata lags new number ranges (Vietnamese mobiles +84 890-895 were possible but not listed in
        # phonenumbers 9.0): a number of the right length for a mobile of its region is kept, and flagged.
        # Its region: the default one, or the country a leading '+' names ('+65 8006 9874'). Digits without
        # '+' are not read as another country's: '650-253-0000' is not kept as a Singapore number.
        number = _possible_mobile(text, resolve_region(region))
        if number is None:
            return Outcome(None, INVALID_PHONE)
        flag = UNLISTED_RANGE
    if blocklist.is_blocked("phone", phonenumbers.national_significant_number(number)):
        return Outcome(None, BLOCKLISTED)
    value = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if flag:
        _UNLISTED.add(value)
    return Outcome(value)


# The flag on a phone kept although the library's metadata does not list its range, and the values kept so.
UNLISTED_RANGE = "unlisted_range"
_UNLISTED: set[str] = set()


def _possible_mobile(text: str, region: str | None) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not text.startswith("+") and number.country_code != phonenumbers.country_code_for_region(region or ""):
        return None
    if phonenumbers.is_possible_number_for_type(number, PhoneNumberType.MOBILE):
        return number
    return None


def phone_flag(raw: object, region: str | None = DEFAULT_REGION) -> str | None:
    """'unlisted_range' for a phone kept although its number range is not (yet) valid by the library's
    metadata, else None. Staging and reports use it to show such numbers without dropping them."""
    value = phone_outcome(raw, region).value
    return e164_flag(value)


def e164_flag(value: str | None) -> str | None:
    """phone_flag() of a value this module normalized (E.164)."""
    return UNLISTED_RANGE if value is not None and value in _UNLISTED else None


@lru_cache(maxsize=1 << 18)
def phone_outcome(raw: object, region: str | None = None) -> Outcome:
    """check_phone with a per-value cache."""
    return check_phone(raw, region)


def normalize_phone(raw: object, default_region: str | None = DEFAULT_REGION) -> str | None:
    """E.164 phone number ('+84912345678'), or None (junk / invalid, counted).

    Numbers without a country code are read in `default_region`; digits that start with a country code but
    lack the '+' are accepted when they are not a valid national number of that region.
    """
    outcome = phone_outcome(raw, default_region)
    if outcome.reason:
        count_rejection("phone", outcome.reason)
    elif e164_flag(outcome.value):
        count_flag("phone", UNLISTED_RANGE)
    return outcome.value
