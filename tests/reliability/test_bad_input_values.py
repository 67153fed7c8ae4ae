"""Issue 18, case 1 (bad values): a negative order total, an order line quantity of 0 and a future birthday on
the committed sample passed the loader, then failed a blocking raw check that scanned all raw history, so no
model, identity, mart or sync step ran again, on any later run. Now each such row is quarantined at load with
its reason (file, line, field), the blocking checks judge the current load against their tolerances, a store
return (negative quantity) is a return netted against its sale, and quarantined rows can be released with an
audit trail."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from sen.contracts import load_contract
from sen.ingest import load_source
from sen.ingest.__main__ import main as ingest_main
from sen.quality import validate_all, validate_source
from tests.conftest import SAMPLE_AS_OF, SAMPLE_DIR

CONTRACT = load_contract()
AS_OF = datetime.fromisoformat(SAMPLE_AS_OF + "+00:00")
NEGATIVE_ORDER = "SO10000002"
ZERO_QUANTITY = ("SO10002387", "2")
FUTURE_BIRTHDAY = "C17517753"
EXCHANGE = "ST009-00000001"  # a store sale to which a returned item is added (an exchange at the till)
RETURN_ONLY = "ST999-RETURN01"  # goods brought back with no sale in the transaction


def rewrite_csv(path: Path, change) -> int:
    """Apply ``change(row) -> row | None`` to every data row of a CSV file; return the 1-based file line of the
    changed row (the header is line 1). Rows returned as a list are appended at the end instead."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, changed_line, extra = rows[0], None, []
    for i, row in enumerate(rows[1:], start=2):
        record = dict(zip(header, row, strict=False))
        out = change(record)
        if out is not None and changed_line is None:
            changed_line = i
            if isinstance(out, list):
                extra = out
            else:
                rows[i - 1] = [out.get(h, "") for h in header]
    rows += [[r.get(h, "") for h in header] for r in extra]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    assert changed_line is not None, f"nothing changed in {path}"
    return changed_line


def planted_sample(tmp_path: Path) -> tuple[Path, dict[str, tuple[str, int]]]:
    """A copy of the committed sample with realistic bad values; returns it and where each was planted."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE_DIR, data)
    where: dict[str, tuple[str, int]] = {}

    def negative_total(r):
        return {**r, "subtotal": "", "total": "-150000"} if r["order_id"] == NEGATIVE_ORDER else None

    def zero_quantity(r):
        return {**r, "quantity": "0"} if (r["order_id"], r["line_number"]) == ZERO_QUANTITY else None

    def future_birthday(r):
        return {**r, "birthday": "2099-05-01"} if r["customer_id"] == FUTURE_BIRTHDAY else None

    for key, (source, change) in {
        "negative total": ("orders", negative_total),
        "zero quantity": ("order_lines", zero_quantity),
        "future birthday": ("crm_contacts", future_birthday),
    }.items():
        path = data / source / f"{source}.csv"
        where[key] = (str(path), rewrite_csv(path, change))

    pos = data / "pos_transactions" / "pos_transactions.csv"

    def store_returns(r):
        if r["transaction_id"] != EXCHANGE or r["line_number"] != "1":
            return None
        back = {**r, "line_number": "9", "sku": "HOM-10356", "quantity": "-1", "unit_price": "329000"}
        back["line_total"] = "-329000"
        only = {
            **r,
            "transaction_id": RETURN_ONLY,
            "line_number": "1",
            "quantity": "-2",
            "line_total": "-478000",
        }
        return [back, only]

    rewrite_csv(pos, store_returns)
    return data, where


def load_all(conn: duckdb.DuckDBPyConnection, data: Path) -> None:
    for source in CONTRACT.sources.values():
        load_source(conn, source, data)


def quarantined(conn: duckdb.DuckDBPyConnection, source: str) -> list[tuple[str, int, str]]:
    return conn.execute(
        "select file_path, line, reason from raw._quarantine where source = ? order by line", [source]
    ).fetchall()


def critical_failures(conn: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    reports = validate_all(conn, as_of=AS_OF, engine="sql")
    return {
        name: [o.name for o in r.outcomes if o.severity == "critical" and not o.success]
        for name, r in reports.items()
        if not r.critical_success
    }


def test_bad_values_are_quarantined_with_reasons_and_the_checks_pass(tmp_path):
    data, where = planted_sample(tmp_path)
    conn = duckdb.connect()
    load_all(conn, data)
    expected = {
        "negative total": ("orders", "field total: below the minimum 0: -150000"),
        "zero quantity": ("order_lines", "field quantity: below the minimum 1: 0"),
        "future birthday": ("crm_contacts", "field birthday: in the future"),
    }
    for key, (source, reason) in expected.items():
        path, line = where[key]
        rows = [r for r in quarantined(conn, source) if r[1] == line]
        assert rows and rows[0][0] == path and rows[0][2].startswith(reason), (key, quarantined(conn, source))
    # The record is kept whole, so the row can be released once fixed.
    (record,) = conn.execute(
        "select record from raw._quarantine where source = 'orders' and reason like 'field total: below%'"
    ).fetchall()[0]
    assert json.loads(record)["order_id"] == NEGATIVE_ORDER
    # Store returns are no error: both lines load.
    lines = conn.execute(
        "select transaction_id, quantity, line_total from raw.pos_transactions where quantity like '-%'"
    ).fetchall()
    assert sorted(lines) == [(EXCHANGE, "-1", "-329000"), (RETURN_ONLY, "-2", "-478000")]
    # Nothing blocks: every critical expectation of every source passes.
    assert critical_failures(conn) == {}


def test_an_old_bad_row_does_not_block_later_loads(tmp_path):
    """A bad row already in raw (loaded before the loader quarantined it, or written by other means) fails
    the blocking check of its own load only; the next load is judged on its own rows."""
    orders = CONTRACT.sources["orders"]
    data = tmp_path / "data"
    (data / "orders").mkdir(parents=True)
    shutil.copy(SAMPLE_DIR / "orders" / "orders.csv", data / "orders" / "orders.csv")
    conn = duckdb.connect()
    load_source(conn, orders, data)
    conn.execute("update raw.orders set total = '-150000' where order_id = ?", [NEGATIVE_ORDER])
    first = validate_source(conn, orders, as_of=AS_OF, engine="sql")
    assert not first.critical_success  # the load that brought it is judged, and fails
    assert first.outcome("amount_range:total").unexpected_count == 1
    # The next day's export: a few good orders.
    with open(SAMPLE_DIR / "orders" / "orders.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:6]
    id_at = header.index("order_id")
    for row in body:
        row[id_at] = "NEXT-" + row[id_at]
    with open(data / "orders" / "orders_next.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *body])
    result = load_source(conn, orders, data)
    assert result.rows_loaded == 5
    later = validate_source(conn, orders, as_of=AS_OF, engine="sql")
    assert later.critical_success, [o.summary() for o in later.outcomes if not o.success]
    assert later.outcome("amount_range:total").element_count == 5
    # The old row is still in raw: nothing was deleted to make the check pass.
    assert conn.execute("select count(*) from raw.orders where total = '-150000'").fetchall()[0][0] == 1


def test_release_with_a_fix_loads_the_row_and_keeps_an_audit_trail(tmp_path, capsys):
    data, where = planted_sample(tmp_path)
    warehouse = tmp_path / "wh.duckdb"
    conn = duckdb.connect(str(warehouse))
    load_all(conn, data)
    conn.close()
    path, line = where["future birthday"]
    # Released as is, the birthday is still in the future: it stays quarantined and the command says why.
    args = ["--warehouse", str(warehouse), "release", "--source", "crm_contacts", "--line", str(line)]
    assert ingest_main([*args, "--reason", "checked"]) == 1
    assert "still quarantined" in capsys.readouterr().out
    # With the field cleared (the CRM had a typo), it passes and loads.
    assert ingest_main([*args, "--set", "birthday=", "--reason", "typo in the CRM", "--by", "ops@shop"]) == 0
    conn = duckdb.connect(str(warehouse))
    (row,) = conn.execute(
        "select birthday, _source_file, _source_line, _load_id from raw.crm_contacts where customer_id = ?",
        [FUTURE_BIRTHDAY],
    ).fetchall()
    assert row[0] is None and row[1] == path and row[2] == line and row[3].startswith("release-")
    assert not [r for r in quarantined(conn, "crm_contacts") if r[1] == line]
    (audit,) = conn.execute(
        "select released_by, why, quarantine_reason, changed_fields, record_before, record_after "
        "from raw._quarantine_releases"
    ).fetchall()
    assert (audit[0], audit[1], audit[3]) == ("ops@shop", "typo in the CRM", "birthday")
    assert audit[2].startswith("field birthday: in the future")
    assert json.loads(audit[4])["birthday"] == "2099-05-01" and json.loads(audit[5])["birthday"] is None
    # The file's counts follow the release; the checks on the released load pass.
    (counts,) = conn.execute(
        "select rows_loaded, rows_quarantined from raw._loaded_files where file_path = ?", [path]
    ).fetchall()
    assert counts[1] == 1  # the planted missing created_at of the sample is still quarantined
    assert validate_source(conn, CONTRACT.sources["crm_contacts"], as_of=AS_OF, engine="sql").critical_success
    conn.close()
    # A dry run changes nothing; a filter that matches nothing says so (exit 2).
    order_args = [
        "--warehouse",
        str(warehouse),
        "release",
        "--source",
        "orders",
        "--match",
        "field total: below",
    ]
    assert ingest_main([*order_args, "--set", "total=150000", "--reason", "credit note", "--dry-run"]) == 0
    assert "would release 1 of 1" in capsys.readouterr().out
    assert ingest_main([*order_args, "--line", "99999", "--reason", "none"]) == 2


@pytest.mark.e2e
def test_the_build_completes_on_bad_values_and_a_later_run_is_not_blocked(tmp_path):
    """The whole main job on the planted sample: it succeeds, the marts are built, the store exchange is
    netted, and the next run (no new file) succeeds too."""
    data, _ = planted_sample(tmp_path)
    warehouse = tmp_path / "sen.duckdb"
    env = {
        **os.environ,
        "CDP_DATA_DIR": str(data),
        "CDP_WAREHOUSE": str(warehouse),
        "CDP_AS_OF": SAMPLE_AS_OF,
        "CDP_SERVING": str(tmp_path / "serving.duckdb"),
    }
    env.pop("DAGSTER_HOME", None)
    repo = Path(__file__).resolve().parents[2]
    for attempt in ("first", "later"):
        done = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "build"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"{attempt} build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        (sale,) = conn.execute(
            "select gross_amount, refunded_amount, net_amount, exclusion_reason from intermediate.int_orders_unioned "
            "where order_id = ?",
            [EXCHANGE],
        ).fetchall()
        assert sale == (747000, 329000, 418000, None)  # 3 items sold, 1 brought back
        (only,) = conn.execute(
            "select exclusion_reason from intermediate.int_orders_unioned where order_id = ?", [RETURN_ONLY]
        ).fetchall()
        assert only == ("store_return",)
        assert conn.execute(
            "select count(*) from marts.orders where order_id = ?", [NEGATIVE_ORDER]
        ).fetchall() == [(0,)]
        assert conn.execute("select count(*) from marts.customer_value").fetchall()[0][0] > 0
    finally:
        conn.close()


def test_a_file_of_only_bad_rows_is_loud_until_its_rows_are_released(tmp_path):
    """A delivery whose every row was quarantined fails its source (a broken export must not leave the marts
    silently on old data); once its rows are corrected and released, the source builds again."""
    from sen.ingest import SourceProblemError, ingest_source

    contacts = CONTRACT.sources["crm_contacts"]
    data = tmp_path / "data"
    (data / "crm_contacts").mkdir(parents=True)
    shutil.copy(SAMPLE_DIR / "crm_contacts" / "crm_contacts.csv", data / "crm_contacts" / "crm_contacts.csv")
    header, rows = None, []
    with open(SAMPLE_DIR / "crm_contacts" / "crm_contacts.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [next(reader) for _ in range(20)][-2:]
    at = header.index("birthday")
    for row in rows:
        row[at] = "2099-05-01"
    delta = data / "crm_contacts" / "crm_delta.csv"
    with open(delta, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    warehouse = tmp_path / "wh.duckdb"
    conn = duckdb.connect(str(warehouse))
    with pytest.raises(
        SourceProblemError, match="all 2 row\\(s\\) quarantined.*python -m sen.ingest release"
    ):
        ingest_source(conn, contacts, data)
    conn.close()
    args = ["--warehouse", str(warehouse), "release", "--source", "crm_contacts", "--file", "crm_delta.csv"]
    assert ingest_main([*args, "--set", "birthday=", "--reason", "birthdays unknown, cleared"]) == 0
    conn = duckdb.connect(str(warehouse))
    ingest_source(conn, contacts, data)  # no longer raises: nothing new, and the delta's rows are loaded
    assert conn.execute("select count(*) from raw._quarantine_releases").fetchall() == [(2,)]
    conn.close()
