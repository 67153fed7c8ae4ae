import pytest
from email_validator import EmailNotValidError, validate_email

from sen.normalize import (
    BLOCKLISTED,
    INVALID_EMAIL,
    email_outcome,
    gmail_canonical,
    normalize_email,
    rejection_counts,
    reset_rejection_counts,
)


def test_case_and_surrounding_spaces() -> None:
    assert normalize_email("  Nguyen.Van.A@Gmail.COM \u200b") == "nguyen.van.a@gmail.com"
    assert normalize_email("\tMAILTO:lan@Shop.vn") == "lan@shop.vn"


def test_unicode_local_part_is_kept() -> None:
    assert normalize_email("Nguyễn@gmail.com") == "nguyễn@gmail.com"


@pytest.mark.parametrize(
    "raw", ["not-an-email", "a@b", "a..b@shop.vn", "a@shop..vn", "@shop.vn", "a b@shop.vn"]
)
def test_invalid_syntax_is_rejected(raw: str) -> None:
    assert email_outcome(raw) == (None, INVALID_EMAIL)


@pytest.mark.parametrize(
    "raw",
    ["test@test.com", "TEST@TEST.COM", "someone@example.com", "a@mail.example.org", "noreply@shop.vn",
     "x@yopmail.com", "null", "undefined", "none"],
)  # fmt: skip
def test_junk_addresses_are_blocklisted(raw: str) -> None:
    assert email_outcome(raw) == (None, BLOCKLISTED)


def test_reserved_test_domain_is_rejected() -> None:
    assert normalize_email("buyer@shop.test") is None


def test_rejections_are_counted() -> None:
    reset_rejection_counts()
    normalize_email("test@test.com")
    normalize_email("test@test.com")
    normalize_email("broken@")
    normalize_email("")
    counts = rejection_counts()
    assert counts[("email", BLOCKLISTED)] == 2
    assert counts[("email", INVALID_EMAIL)] == 1
    assert ("email", "empty") not in counts


@pytest.mark.parametrize(
    "raw",
    ["a.b-c_d+tag@sub.shop.vn", "x@a-b.co", "o'brien@shop.com", "first.last@xn--bcher-kva.com", "a@123.com",
     "a@shop.c0m", "a@-shop.com", "a.@shop.com", "a@shop.technology", "\"quoted\"@shop.vn"],
)  # fmt: skip
def test_fast_path_agrees_with_email_validator(raw: str) -> None:
    try:
        expected: str | None = validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    assert normalize_email(raw) == expected


def test_gmail_canonical() -> None:
    assert gmail_canonical("a.b+promo@googlemail.com") == "ab@gmail.com"
    assert gmail_canonical("a.b+promo@shop.vn") == "a.b+promo@shop.vn"
