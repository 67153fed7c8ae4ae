"""The dirt real exports have: duplicate rows, test accounts, and a handful of malformed rows (all recorded)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from data_samples import textops as t
from data_samples.catalog import Catalog, Window
from data_samples.purchases import JUNK_EMAIL, JUNK_PHONE

TEST_ACCOUNTS = [  # customer_id, email, phone, first_name, last_name
    ("C0000001", JUNK_EMAIL, JUNK_PHONE, "Test", "Account"),
    ("C0000002", "null", "", "null", "null"),
    ("C0000003", "undefined", "0123456789", "QA", "Tester"),
    ("C0000004", "qa.team+staging@senmart.vn", JUNK_PHONE, "QA", "Staging"),
    ("C0000005", " TEST@TEST.COM", "", "test", "test"),
]
JUNK_EMAILS = [(JUNK_EMAIL, "placeholder typed by guests and test accounts"),
               (" TEST@TEST.COM", "test account spelling of test@test.com"),
               ("null", "serialized null from a form / SDK"), ("undefined", "JavaScript undefined sent as a string"),
               ("qa.team+staging@senmart.vn", "internal QA mailbox used by test accounts")]  # fmt: skip
JUNK_PHONES = [(JUNK_PHONE, "cashier placeholder for walk-ins who give no number; test accounts"),
               ("0123456789", "test account placeholder")]  # fmt: skip


@dataclass
class Planted:
    """Ground-truth records of what was planted: traps and malformed rows."""

    traps: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[tuple[str, str, int, str]] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)

    def count_duplicates(self, source: str, n: int) -> None:
        self.duplicates[source] = self.duplicates.get(source, 0) + n


def duplicate_rows(rng: np.random.Generator, table: pa.Table, p: float) -> tuple[pa.Table, int]:
    """Exact copies of some rows, right after the original (a re-sent export page)."""
    dup = np.flatnonzero(rng.random(table.num_rows) < p)
    idx = np.sort(np.concatenate([np.arange(table.num_rows), dup]), kind="stable")
    return table.take(pa.array(idx)), int(dup.size)


def test_accounts(window: Window) -> pa.Table:
    n = len(TEST_ACCOUNTS)
    created = window.end - np.arange(1, n + 1) * 86_400 * 40
    cols = list(zip(*TEST_ACCOUNTS, strict=True))
    blank = t.const(None, n)
    table = {
        "customer_id": t.arr(list(cols[0])),
        "email": t.arr(list(cols[1])),
        "phone": t.where(np.array([bool(x) for x in cols[2]]), t.arr(list(cols[2]))),
        "first_name": t.arr(list(cols[3])),
        "last_name": t.arr(list(cols[4])),
        "gender": blank,
        "birthday": blank,
        "city": t.const("Hà Nội", n),
        "country": t.const("VN", n),
        "created_at": t.naive_local(created),
        "updated_at": t.naive_local(created),
        "loyalty_member": t.const("false", n),
        "loyalty_card_id": blank,
        "loyalty_joined_at": blank,
        "referred_by_customer_id": blank,
    }
    for c in ("email", "sms", "zalo", "push", "ads"):
        table[f"consent_{c}"] = t.const("false", n)
    return pa.table(table)


def test_orders(rng: np.random.Generator, window: Window, catalog: Catalog, order_seq: np.ndarray):
    """Orders placed by QA on production: flagged is_test, from the test accounts."""
    n = order_seq.size
    acct = np.arange(n) % len(TEST_ACCOUNTS)
    order_id = t.cat("SO", t.digits(order_seq, 8))
    product = rng.integers(0, catalog.sku.size, 2 * n)
    owner = np.repeat(np.arange(n), 2)
    price = catalog.price[product]
    subtotal = np.bincount(owner, weights=price, minlength=n).astype(np.int64)
    when = window.end - rng.integers(86_400, 300 * 86_400, n)
    acc = list(zip(*TEST_ACCOUNTS, strict=True))
    orders = pa.table(
        {
            "order_id": order_id,
            "customer_id": t.take(acc[0], acct),
            "email": t.take(acc[1], acct),
            "phone": t.take([p or None for p in acc[2]], acct),
            "anonymous_id": t.const(None, n),
            "channel": t.const("web", n),
            "status": t.take(["completed", "cancelled"], rng.integers(0, 2, n)),
            "currency": t.const("VND", n),
            "subtotal": t.ints(subtotal),
            "discount": t.ints(np.zeros(n, np.int64)),
            "shipping_fee": t.ints(np.zeros(n, np.int64)),
            "total": t.ints(subtotal),
            "coupon_code": t.const("QA100", n),
            "shipping_city": t.const("Hà Nội", n),
            "is_test": t.const("true", n),
            "created_at": t.naive_local(when),
        }
    )
    lines = pa.table(
        {
            "order_id": order_id.take(pa.array(owner)),
            "line_number": t.ints(np.tile([1, 2], n)),
            "sku": t.arr(catalog.sku[product]),
            "quantity": t.const("1", 2 * n),
            "unit_price": t.ints(price),
            "line_total": t.ints(price),
        }
    )
    return orders, lines


def corrupt_copy(
    table: pa.Table, row: int, changes: dict[str, object], at: int, header_lines: int
) -> tuple[pa.Table, int]:
    """Insert a copy of table[row] with some fields replaced (a value or a function of the row) at `at`.

    Returns the new table and the 1-based line of the copy: header_lines is 1 for CSV, 0 for Parquet rows.
    """
    at = min(at, table.num_rows)
    copy = table.slice(min(row, table.num_rows - 1), 1).to_pylist()[0]
    copy.update({k: v(copy) if callable(v) else v for k, v in changes.items()})
    one = pa.Table.from_pylist([copy], schema=table.schema)
    out = pa.concat_tables([table.slice(0, at), one, table.slice(at)])
    return out, at + 1 + header_lines


def plant_table_errors(tables: dict[str, pa.Table], files: dict[str, str], order_id: str, pos_seq: int,
                       header_lines: int, planted: Planted) -> None:  # fmt: skip
    """Exactly one malformed row in each of five table sources (first chunk only), each a copy of a real row."""
    specs = [
        ("orders", 12, {"order_id": order_id, "total": "1.250.000đ"}, 6, "non-numeric amount: total '1.250.000đ'"),
        ("crm_contacts", 8, {"customer_id": "C0900001", "created_at": None}, 9, "missing required field: created_at"),
        ("pos_transactions", 4, {"transaction_id": lambda r: f"{r['store_id']}-{pos_seq:08d}", "line_number": "1",
                                 "transacted_at": "31/11/2026 25:61"}, 12,
         "unparseable timestamp: transacted_at '31/11/2026 25:61'"),
        ("order_lines", 20, {"line_number": "99", "unit_price": None}, 15, "missing required field: unit_price"),
        ("email_events", 5, {"event_id": "ee_planted_missing_email", "email": None}, 20,
         "missing required field: email"),
    ]  # fmt: skip
    for source, row, changes, at, reason in specs:
        if tables[source].num_rows == 0:
            continue
        tables[source], line = corrupt_copy(tables[source], row, changes, at, header_lines)
        planted.errors.append((source, files[source], line, reason))


_TS = re.compile(r'"timestamp":"[^"]*"')
_MID = re.compile(r'"messageId":"[^"]*"')


def plant_event_errors(lines: list[str], relpath: str, planted: Planted) -> list[str]:
    """A truncated JSON line and an event whose timestamp does not parse, in one daily file."""
    if len(lines) < 12:
        return lines
    out = list(lines)
    broken = out[4][: len(out[4]) // 2]
    out.insert(5, broken)
    planted.errors.append(("events", relpath, 6, "broken JSON line (truncated)"))
    bad = _MID.sub(
        '"messageId":"planted-bad-timestamp-1"', _TS.sub('"timestamp":"2026-11-31T25:61:00Z"', out[9])
    )
    out.insert(11, bad)
    planted.errors.append(("events", relpath, 12, "unparseable timestamp: '2026-11-31T25:61:00Z'"))
    return out
