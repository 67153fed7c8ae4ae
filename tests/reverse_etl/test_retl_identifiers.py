"""Normalization and hashing rules: pinned hashes, destination quirks, and SQL == Python."""

from __future__ import annotations

import hashlib

import duckdb
import pandas as pd
import pytest

from reverse_etl import identifiers as ids


def h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_pinned_literal_digests() -> None:
    # independent of this module: published SHA-256 test vectors
    assert ids.sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert ids.hash_identifier(" Test@Example.COM ", ids.meta_email) == (
        "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    )


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [(" Test@Example.COM ", "test@example.com"), ("\tA.B+tag@Gmail.com\n", "a.b+tag@gmail.com")],
)
def test_meta_email_hash(raw: str, normalized: str) -> None:
    assert ids.meta_email(raw) == normalized
    assert ids.TRANSFORMS["meta_email_sha256"].apply(raw) == h(normalized)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Cloudy.SanFrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"),
        ("a.b.c+x+y@googlemail.com", "abc@googlemail.com"),
        ("user.name+NYC@Example.com", "user.name+nyc@example.com"),  # dots/plus kept off gmail
        (" jane . doe @ gmail.com ", "janedoe@gmail.com"),  # all whitespace removed
    ],
)
def test_google_email_gmail_rule(raw: str, normalized: str) -> None:
    assert ids.google_email(raw) == normalized
    assert ids.TRANSFORMS["google_email_sha256"].apply(raw) == h(normalized)


@pytest.mark.parametrize("raw", [None, "", "   ", "not-an-email", "a@b", "two@@at.com"])
def test_invalid_emails_are_none(raw: str | None) -> None:
    assert ids.meta_email(raw) is None
    assert ids.google_email(raw) is None
    assert ids.TRANSFORMS["meta_email_sha256"].apply(raw) is None


def test_gmail_local_part_that_is_only_a_tag_is_invalid_for_google() -> None:
    assert ids.meta_email("+tag@gmail.com") == "+tag@gmail.com"
    assert ids.google_email("+tag@gmail.com") is None


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0912 345 678", "+84912345678"),
        ("(+84) 912-345-678", "+84912345678"),
        ("+84912345678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("+1 650-253-0000", "+16502530000"),
    ],
)
def test_e164_with_vn_default_region(raw: str, e164: str) -> None:
    assert ids.e164(raw) == e164
    assert ids.meta_phone(raw) == e164[1:]  # Meta: no '+', no leading zero
    assert ids.google_phone(raw) == e164  # Google: with '+'
    assert ids.zalo_phone(raw) == e164[1:]


def test_phone_default_region_is_configurable() -> None:
    assert ids.e164("650-253-0000", "US") == "+16502530000"
    assert ids.e164("650-253-0000") is None  # not a valid Vietnamese number


@pytest.mark.parametrize("raw", ["12", "abc", "0000000000", ""])
def test_invalid_phones_are_none(raw: str) -> None:
    assert ids.e164(raw) is None


def test_same_phone_hashes_differently_for_meta_and_google() -> None:
    meta = ids.TRANSFORMS["meta_phone_sha256"].apply("0912 345 678")
    google = ids.TRANSFORMS["google_phone_sha256"].apply("0912 345 678")
    assert meta == h("84912345678") == "25cc2f7574420a2d46c9f2d6cf94cdbb242ef7d479afe92ed6e8eb33a7493093"
    assert google == h("+84912345678") == "ed644edf0566470f0b5a8c13c792fa8e8a489574da3aceec119b9456e870d396"


def test_names_and_country() -> None:
    assert ids.meta_name("  Nguyễn-Văn A. ") == "nguyễnvăna"
    assert ids.google_name("  Mary-Jane  O'Neil ") == "maryjane oneil"
    assert ids.meta_name("Nguye\u0302\u0303n") == ids.meta_name("Nguyễn")  # NFC before hashing
    assert ids.meta_country(" VN ") == "vn"
    assert ids.region_code("vn") == "VN"
    assert ids.meta_country("Vietnam") is None
    assert ids.TRANSFORMS["meta_name_sha256"].apply("Nguyễn") == h("nguyễn")


def test_already_hashed_values_pass_through() -> None:
    digest = h("someone@example.com")
    assert ids.is_sha256_hex(digest.upper())
    for name in ("meta_email_sha256", "google_email_sha256", "meta_phone_sha256", "google_phone_sha256"):
        assert ids.TRANSFORMS[name].apply(digest.upper()) == digest
    assert not ids.is_sha256_hex(digest[:-1])


CORPUS = [
    None,
    "",
    " ",
    "  A.B+x@GMail.com ",
    "a b@gmail.com",
    "\tFoo@Example.COM\n",
    "user.name+NYC@Example.com",
    "bad",
    "x@y",
    "+84912345678",
    " 0912 345 678",
    "(+84) 912-345-678",
    "84912345678",
    "12",
    "Nguyễn",
    "  Văn  Thị-Mai ",
    "O'Brien",
    "VN",
    "vn ",
    "Vietnam",
    "\u00a0Lê\u3000",
    "A" * 64,
    "ab" * 32 + " ",
    ".+x@gmail.com",
    "İstanbul",
    "ﬁx",
    "Nguye\u0302\u0303n",
    "Male",
    "F",
    "70000",
    "true",
    "DENIED",
    "+1 650 253 0000",
    "a\u00a0b@example.com",
    "\u2003+84912345678\u2003",
    "Lê\u2028Văn",
    "\u3000",
    "x\u0085",
    "Ab" * 32,
]


@pytest.mark.parametrize("name", sorted(ids.TRANSFORMS))
def test_sql_and_python_agree(name: str) -> None:
    transform = ids.TRANSFORMS[name]
    conn = duckdb.connect()
    frame = pd.DataFrame(
        {"r": pd.Series(CORPUS, dtype=object), "s": pd.Series([ids.e164(v) for v in CORPUS], dtype=object)}
    )
    conn.register("corpus", frame)
    e164_expr = ids.sql_e164_fast("c", "s") if transform.phone else None
    sql = ids.transform_sql(transform, "c", e164_expr)
    query = f"SELECT {sql} FROM (SELECT {ids.sql_clean('r')} AS c, s FROM corpus)"
    got = [row[0] for row in conn.execute(query).fetchall()]
    assert got == [transform.apply(v) for v in CORPUS]
