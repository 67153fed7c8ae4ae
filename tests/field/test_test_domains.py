"""Which test-looking email domains are junk: the reserved ones (RFC 2606 / 6761), not look-alikes."""

from __future__ import annotations

import pytest

from sen.normalize import normalize_email


@pytest.mark.parametrize(
    "email",
    ["a@example.com", "a@shop.example.net", "a@example.org", "a@shop.test", "a@x.example", "a@x.invalid",
     "a@localhost", "a@printer.local"],
)  # fmt: skip
def test_reserved_test_domains_are_junk(email: str) -> None:
    assert normalize_email(email) is None


@pytest.mark.parametrize(
    "email", ["an@example.vn", "an@example.com.vn", "an@examples.com", "an@mail.example.co"]
)
def test_real_domains_that_look_like_examples_are_kept(email: str) -> None:
    assert normalize_email(email) == email
