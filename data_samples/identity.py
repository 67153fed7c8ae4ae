"""Personal identifiers: names, unique emails and phones, and the messy ways each source spells them."""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_samples import textops as t
from data_samples import vocab

# Phone kinds.
VN_MOBILE, VN_LANDLINE, SG_MOBILE, US_MOBILE = 0, 1, 2, 3
VN_MOBILE_PREFIXES = np.array(["91", "98", "90", "93", "97", "96", "94", "86", "88", "70", "77", "79", "32",
                               "33", "35", "36", "37", "38", "39", "56", "58", "81", "83", "84", "85"])  # fmt: skip
# Odd and not multiples of 5, so x -> (x * m + c) mod 10**k is a bijection; one pair per identifier kind so
# that, say, a phone number's digits say nothing about the same person's customer id.
BIJECTIONS = [(3_141_593, 1_234_567), (2_718_281, 7_654_321), (1_618_033, 3_571_113), (1_414_213, 2_468_024),
              (1_732_051, 9_876_543), (2_236_067, 1_357_913)]  # fmt: skip


def ascii_slug(text: str) -> str:
    """'Nguyễn Thị' -> 'nguyenthi' (diacritics dropped, đ -> d), for email local parts."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn" and c.isalnum())
    return kept.lower()


def scrambled(values: np.ndarray, modulus: int, salt: int = 0) -> np.ndarray:
    """A bijection on [0, modulus) (modulus a power of ten): distinct inputs give distinct, random-looking codes."""
    mult, add = BIJECTIONS[salt]
    return (np.asarray(values, dtype=np.int64) % modulus * mult + add) % modulus


def _digit_matrix(values: np.ndarray, width: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((len(v), width), dtype=np.uint8)
    for i in range(width - 1, -1, -1):
        out[:, i] = 48 + (v % 10)
        v //= 10
    return out


def _lit(text: str, n: int) -> np.ndarray:
    return np.tile(np.frombuffer(text.encode(), dtype=np.uint8), (n, 1))


def _fmt(pieces: list[np.ndarray | str], n: int) -> pa.Array:
    return t.from_matrix(np.hstack([_lit(p, n) if isinstance(p, str) else p for p in pieces]))


def phone_spellings(kind: np.ndarray, nsn_digits: np.ndarray, style: np.ndarray) -> pa.Array:
    """Raw phone strings. nsn_digits: (n, 10) ASCII matrix, left-aligned national significant number.

    style is an integer per row; each kind has its own list of spellings, style is taken modulo its length.
    """
    n = len(kind)
    out = np.empty(n, dtype=object)
    for k, builder in (
        (VN_MOBILE, _vn_mobile),
        (VN_LANDLINE, _vn_landline),
        (SG_MOBILE, _sg),
        (US_MOBILE, _us),
    ):
        rows = np.flatnonzero(kind == k)
        if rows.size == 0:
            continue
        options = builder(nsn_digits[rows])
        choice = style[rows] % len(options)
        out[rows] = np.asarray(t.pick(choice, options).to_numpy(zero_copy_only=False), dtype=object)
    return pa.array(out, type=pa.string())


def _vn_mobile(d: np.ndarray) -> list[pa.Array]:
    n = len(d)
    a, b, c = d[:, 0:3], d[:, 3:6], d[:, 6:9]
    return [
        _fmt(["0", d[:, :9]], n),  # 0912345678
        _fmt(["0", a, " ", b, " ", c], n),  # 0912 345 678
        _fmt(["+84 ", a, "-", b, "-", c], n),  # +84 912-345-678
        _fmt(["84", d[:, :9]], n),  # 84912345678
        _fmt(["(+84) ", a, ".", b, ".", c], n),  # (+84) 912.345.678
        _fmt(["+84", d[:, :9]], n),  # +84912345678
        _fmt(["0", d[:, 0:2], ".", d[:, 2:5], ".", d[:, 5:9]], n),  # 091.234.5678
    ]


def _vn_landline(d: np.ndarray) -> list[pa.Array]:
    n = len(d)
    area, s1, s2 = d[:, 0:2], d[:, 2:6], d[:, 6:10]
    return [
        _fmt(["(0", area, ") ", s1, " ", s2], n),  # (028) 3822 1234
        _fmt(["0", area, " ", s1, " ", s2], n),  # 028 3822 1234
        _fmt(["0", d[:, :10]], n),  # 02838221234
        _fmt(["+84 ", area, " ", s1, " ", s2], n),  # +84 28 3822 1234
    ]


def _sg(d: np.ndarray) -> list[pa.Array]:
    n = len(d)
    return [
        _fmt(["+65 ", d[:, 0:4], " ", d[:, 4:8]], n),
        _fmt(["+65", d[:, :8]], n),
        _fmt(["+65-", d[:, 0:4], "-", d[:, 4:8]], n),
    ]


def _us(d: np.ndarray) -> list[pa.Array]:
    n = len(d)
    return [
        _fmt(["+1 (", d[:, 0:3], ") ", d[:, 3:6], "-", d[:, 6:10]], n),
        _fmt(["+1 ", d[:, 0:3], "-", d[:, 3:6], "-", d[:, 6:10]], n),
        _fmt(["+1", d[:, :10]], n),
    ]


def phone_numbers(rng: np.random.Generator, kind: np.ndarray, unique_code: np.ndarray) -> np.ndarray:
    """National significant numbers as an (n, 10) ASCII matrix; unique_code (< 10**7) makes them distinct."""
    n = len(kind)
    out = np.full((n, 10), ord("0"), dtype=np.uint8)
    tail = _digit_matrix(unique_code, 7)
    prefix = VN_MOBILE_PREFIXES[rng.integers(0, len(VN_MOBILE_PREFIXES), n)]
    pre = np.frombuffer("".join(prefix.tolist()).encode(), dtype=np.uint8).reshape(n, 2)
    mob = kind == VN_MOBILE
    out[mob, 0:2] = pre[mob]
    out[mob, 2:9] = tail[mob]
    land = kind == VN_LANDLINE
    area = np.where(rng.random(n) < 0.55, 28, 24)
    out[land, 0:2] = _digit_matrix(area, 2)[land]
    out[land, 2] = ord("3")
    out[land, 3:10] = tail[land]
    sg = kind == SG_MOBILE
    out[sg, 0] = np.where(rng.random(n) < 0.7, ord("8"), ord("9"))[sg]
    out[sg, 1:8] = tail[sg]
    us = kind == US_MOBILE
    out[us, 0:3] = _digit_matrix(rng.choice([408, 415, 650, 206, 646], n), 3)[us]
    out[us, 3:10] = tail[us]
    return out


# --- names and emails ----------------------------------------------------------------------------------------

FAMILY = [f for f, _ in vocab.FAMILY_NAMES]
FAMILY_P = np.array([w for _, w in vocab.FAMILY_NAMES]) / sum(w for _, w in vocab.FAMILY_NAMES)
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "fpt.com.vn",
                 "vnpt.vn", "yahoo.com.vn", "gmail.com"]  # fmt: skip
EMAIL_DOMAIN_P = np.array([0.55, 0.08, 0.05, 0.05, 0.05, 0.03, 0.02, 0.04, 0.13])


class Names:
    """Name parts per person, as vocabulary codes plus the rendered strings."""

    def __init__(self, rng: np.random.Generator, female: np.ndarray, foreign: np.ndarray) -> None:
        n = len(female)
        fam = rng.choice(len(FAMILY), n, p=FAMILY_P)
        mid = rng.integers(0, 10, n)
        giv = rng.integers(0, 25, n)
        f_first = rng.integers(0, len(vocab.FOREIGN_FIRST), n)
        f_last = rng.integers(0, len(vocab.FOREIGN_LAST), n)
        given_vn = t.where(female, t.take(vocab.GIVEN_FEMALE, giv), t.take(vocab.GIVEN_MALE, giv))
        middle = t.where(female, t.take(vocab.MIDDLE_FEMALE, mid), t.take(vocab.MIDDLE_MALE, mid))
        family = t.take(FAMILY, fam)
        self.first_name = t.where(foreign, t.take(vocab.FOREIGN_FIRST, f_first), given_vn)
        self.last_name = t.where(foreign, t.take(vocab.FOREIGN_LAST, f_last), t.cat(family, " ", middle))
        given_slug = t.where(
            female,
            t.take([ascii_slug(x) for x in vocab.GIVEN_FEMALE], giv),
            t.take([ascii_slug(x) for x in vocab.GIVEN_MALE], giv),
        )
        self.given_slug = t.where(
            foreign, t.take([ascii_slug(x) for x in vocab.FOREIGN_FIRST], f_first), given_slug
        )
        self.family_slug = t.where(
            foreign,
            t.take([ascii_slug(x) for x in vocab.FOREIGN_LAST], f_last),
            t.take([ascii_slug(x) for x in FAMILY], fam),
        )
        slug_mf = [ascii_slug(x) for x in vocab.MIDDLE_FEMALE]
        slug_mm = [ascii_slug(x) for x in vocab.MIDDLE_MALE]
        self.middle_slug = t.where(
            foreign,
            t.const("", n),
            t.where(female, t.take(slug_mf, mid), t.take(slug_mm, mid)),
        )


def emails(rng: np.random.Generator, names: Names, unique_code: np.ndarray, width: int) -> pa.Array:
    """Canonical (lower-case) emails; the scrambled unique_code in every local part keeps them distinct."""
    n = len(unique_code)
    code = t.digits(unique_code, width)
    style = rng.integers(0, 4, n)
    local = t.pick(
        style,
        [
            t.cat(names.given_slug, ".", names.family_slug, code),
            t.cat(names.given_slug, names.family_slug, code),
            t.cat(names.family_slug, names.middle_slug, names.given_slug, code),
            t.cat(names.given_slug, "_", names.family_slug, code),
        ],
    )
    domain = t.take(EMAIL_DOMAINS, rng.choice(len(EMAIL_DOMAINS), n, p=EMAIL_DOMAIN_P))
    return t.cat(local, "@", domain)


def messy_emails(rng: np.random.Generator, email: pa.Array, p_messy: float) -> pa.Array:
    """How people type their email into forms: mixed case, stray spaces."""
    n = len(email)
    u = rng.random(n)
    style = np.where(u >= p_messy, 0, rng.integers(1, 6, n))
    return t.pick(
        style,
        [
            email,
            pc.utf8_capitalize(email),
            pc.utf8_title(email),
            t.cat(" ", email),
            t.cat(email, " "),
            t.cat(" ", t.upper(email), " "),
        ],
    )
