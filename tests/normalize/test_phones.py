import pytest

from sen.normalize import INVALID_PHONE, normalize_phone, phone_outcome


@pytest.mark.parametrize(
    "raw",
    ["0912 345 678", "+84 912-345-678", "84912345678", "0084 912 345 678", " 091.234.5678 ", "912345678"],
)
def test_vietnamese_mobile_formats_give_one_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+84912345678"


def test_landline_with_area_code_in_brackets() -> None:
    assert normalize_phone("(028) 3822 1234") == "+842838221234"


def test_pre_2018_eleven_digit_mobile_is_migrated_to_new_prefix() -> None:
    assert normalize_phone("0166 234 5678") == "+84362345678"
    assert normalize_phone("0129 876 5432") == "+84828765432"


def test_other_regions() -> None:
    assert normalize_phone("+1 (650) 253-0000") == "+16502530000"
    assert normalize_phone("(650) 253-0000", "US") == "+16502530000"
    assert normalize_phone("(650) 253-0000", "us") == "+16502530000"


@pytest.mark.parametrize(
    "raw", ["0000000000", "+84 000 000 000", "0999999999", "1111111111", "null", "N/A", "0"]
)
def test_junk_phones_are_dropped(raw: str) -> None:
    assert normalize_phone(raw) is None


@pytest.mark.parametrize("raw", ["028 382", "abc", "091234567891234", "+84 28 3822 12"])
def test_invalid_phones_are_rejected_with_reason(raw: str) -> None:
    assert phone_outcome(raw, "VN") == (None, INVALID_PHONE)


def test_empty_and_none() -> None:
    assert normalize_phone(None) is None
    assert normalize_phone("   ") is None


def test_unknown_region_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown phone region 'XX'"):
        normalize_phone("0912345678", "XX")
