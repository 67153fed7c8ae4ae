import pytest

from sen.normalize import normalize_identifier, normalize_loyalty_card, normalize_push_token


def test_customer_id_and_loyalty_card_are_trimmed_and_upper_cased() -> None:
    assert normalize_identifier("  cus-0012 ", "customer_id") == "CUS-0012"
    assert normalize_loyalty_card(" lc 77 ") == "LC 77"


def test_opaque_ids_keep_their_case() -> None:
    assert normalize_push_token(" fcm:AbC ") == "fcm:AbC"
    assert normalize_identifier("Anon-XY", "anonymous_id") == "Anon-XY"


@pytest.mark.parametrize(
    ("raw", "identifier_type"),
    [("", "anonymous_id"), ("null", "anonymous_id"), ("undefined", "device_id"), ("NaN", "customer_id"),
     ("0", "customer_id"), ("00000000-0000-0000-0000-000000000000", "device_id"), ("None", "push_token"),
     ("test", "loyalty_card"), ("x" * 300, "anonymous_id")],
)  # fmt: skip
def test_junk_ids_are_dropped(raw: str, identifier_type: str) -> None:
    assert normalize_identifier(raw, identifier_type) is None


def test_integers_are_read_as_text() -> None:
    assert normalize_identifier(12345, "customer_id") == "12345"


def test_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown identifier type 'fax'"):
        normalize_identifier("1", "fax")
