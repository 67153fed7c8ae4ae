"""Input the way users have it: Excel separators and encodings, huge files, out-of-range amounts, conflicting
duplicates, and the loud failures of a data folder that would otherwise load nothing."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

import duckdb
import pytest

from sen.contracts import load_contract
from sen.ingest import (
    DataDirError,
    MissingColumnError,
    SourceProblemError,
    check_data_dir,
    ingest_source,
    load_source,
    loader,
)

ORDERS_HEADER = (
    "order_id,customer_id,email,phone,anonymous_id,channel,status,currency,subtotal,discount,shipping_fee,"
    "total,coupon_code,shipping_city,is_test,created_at"
)
SOURCE_NAMES = list(load_contract().sources)


@pytest.fixture
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield connection
    connection.close()


def source(name: str):
    return load_contract().sources[name]


def order_row(order_id: str, total: str = "100000", city: str = "Hà Nội", sep: str = ",", **kw: str) -> str:
    values = {
        "order_id": order_id,
        "customer_id": kw.get("customer_id", "C1"),
        "email": "",
        "phone": "",
        "anonymous_id": "",
        "channel": "web",
        "status": kw.get("status", "completed"),
        "currency": "VND",
        "subtotal": "",
        "discount": "",
        "shipping_fee": "",
        "total": total,
        "coupon_code": "",
        "shipping_city": city,
        "is_test": "false",
        "created_at": kw.get("created_at", "2026-11-01 10:00:00"),
    }
    return sep.join(values.values())


def write_orders(path: Path, rows: list[str], sep: str = ",", encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\r\n".join([ORDERS_HEADER.replace(",", sep), *rows]) + "\r\n"
    path.write_bytes(text.encode(encoding) if encoding != "cp1258" else cp1258(text))
    return path


def cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: precomposed where the code page has the letter, else a
    base letter (possibly with a circumflex, breve or horn) followed by a combining tone mark."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, marks = unicodedata.normalize("NFD", ch)[0], unicodedata.normalize("NFD", ch)[1:]
        for i, mark in enumerate(marks):
            try:
                out += unicodedata.normalize("NFC", base + mark).encode("cp1258")
                out += (marks[:i] + marks[i + 1 :]).encode("cp1258")
                break
            except UnicodeEncodeError:
                continue
        else:
            out += (base + marks).encode("cp1258")
    return bytes(out)


def loaded(conn, column: str = "shipping_city") -> list[tuple]:
    return conn.execute(f"select order_id, {column} from raw.orders order by order_id").fetchall()


def test_a_file_larger_than_one_chunk_loads(conn, tmp_path, monkeypatch):
    # The real limit is 200,000 rows (tests/field builds such a file); a small chunk shows the same path.
    monkeypatch.setattr(loader, "CHUNK_ROWS", 1000)
    data = tmp_path / "data"
    write_orders(data / "orders" / "big.csv", [order_row(f"O{i}") for i in range(2001)])
    result = load_source(conn, source("orders"), data)
    assert result.files_unreadable == {}
    assert (result.rows_in, result.rows_loaded) == (2001, 2001)
    assert conn.execute("select count(*) from raw.orders").fetchone()[0] == 2001


def test_any_error_while_loading_a_file_marks_that_file_unreadable(conn, tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_orders(data / "orders" / "a.csv", [order_row("O1")])
    write_orders(data / "orders" / "b.csv", [order_row("O2")])

    real = loader._insert_chunk

    def failing(conn, source, lines, rows, meta, result):
        if meta["file"].endswith("b.csv"):
            raise duckdb.InvalidInputException("simulated engine error")
        real(conn, source, lines, rows, meta, result)

    monkeypatch.setattr(loader, "_insert_chunk", failing)
    result = load_source(conn, source("orders"), data)
    assert [Path(p).name for p in result.files_unreadable] == ["b.csv"]
    assert "simulated engine error" in next(iter(result.files_unreadable.values()))
    assert loaded(conn, "total") == [("O1", "100000")]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_excel_and_other_separators_are_detected(conn, tmp_path, sep):
    data = tmp_path / "data"
    write_orders(
        data / "orders" / "export.csv", [order_row("O1", sep=sep), order_row("O2", sep=sep)], sep=sep
    )
    result = load_source(conn, source("orders"), data)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 0)
    assert loaded(conn) == [("O1", "Hà Nội"), ("O2", "Hà Nội")]
    assert repr(sep) in next(iter(result.files_read_as.values()))


def test_a_header_without_the_columns_names_the_separator_found(conn, tmp_path):
    data = tmp_path / "data"
    path = data / "orders" / "export.csv"
    path.parent.mkdir(parents=True)
    path.write_text("Mã đơn;Khách hàng;Tổng\nO1;C1;100000\n", encoding="utf-8")
    with pytest.raises(MissingColumnError) as excinfo:
        load_source(conn, source("orders"), data)
    message = str(excinfo.value)
    assert "semicolon separator ';'" in message and "Mã đơn;Khách hàng;Tổng" in message


def test_windows_1258_file_loads_as_the_same_text(conn, tmp_path):
    data = tmp_path / "data"
    cities = [
        "Hà Nội",
        "TP. Hồ Chí Minh",
        "Đà Nẵng",
        "Cần Thơ",
        "Huế",
        "Hải Phòng",
        "Nha Trang",
        "Buôn Ma Thuột",
    ]
    rows = [order_row(f"O{i}", city=c) for i, c in enumerate(cities)]
    path = write_orders(data / "orders" / "export.csv", rows, encoding="cp1258")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    result = load_source(conn, source("orders"), data)
    assert result.files_unreadable == {}
    assert result.rows_loaded == len(cities)
    # Combined to NFC, so the names equal the same names typed in UTF-8.
    assert sorted(c for _, c in loaded(conn)) == sorted(cities)
    assert "cp1258" in result.files_read_as[str(path)]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_utf8_bom_and_utf16_files_load(conn, tmp_path, encoding):
    data = tmp_path / "data"
    write_orders(data / "orders" / "export.csv", [order_row("O1", city="Đà Nẵng")], encoding=encoding)
    result = load_source(conn, source("orders"), data)
    assert result.files_unreadable == {}
    assert loaded(conn) == [("O1", "Đà Nẵng")]


def test_a_non_utf8_file_of_unclear_encoding_says_save_as_utf8(conn, tmp_path):
    data = tmp_path / "data"
    path = data / "orders" / "export.csv"
    path.parent.mkdir(parents=True)
    # Latin-1 bytes that several Windows code pages read differently: no honest guess is possible.
    path.write_bytes(
        (ORDERS_HEADER + "\n" + order_row("O1", city="Café crème Müller") + "\n").encode("cp1252")
    )
    result = load_source(conn, source("orders"), data)
    reason = result.files_unreadable[str(path)]
    assert "save the file as UTF-8" in reason
    assert codecs.lookup("utf-8")  # the message, not a raw UnicodeDecodeError
    assert "UnicodeDecodeError" not in reason


def test_an_amount_too_large_is_out_of_range_not_invalid(conn, tmp_path):
    data = tmp_path / "data"
    write_orders(
        data / "orders" / "o.csv",
        [order_row("O1", total="12345678901234567"), order_row("O2", total="12abc"), order_row("O3")],
    )
    load_source(conn, source("orders"), data)
    reasons = dict(conn.execute("select line, reason from raw._quarantine").fetchall())
    assert reasons[2].startswith("field total: out of range")
    assert reasons[3].startswith("field total: not a valid decimal")
    assert loaded(conn, "total") == [("O3", "100000")]


def test_conflicting_duplicate_keys_quarantine_both_rows(conn, tmp_path):
    data = tmp_path / "data"
    write_orders(
        data / "orders" / "o.csv",
        [
            order_row("O1", total="100000"),
            order_row("O2", total="50000"),
            order_row("O1", total="120000", status="cancelled"),
            order_row("O2", total="50000.004"),  # the same amount to the cent: not a conflict
            order_row("O3"),
            order_row("O3"),  # an exact duplicate: kept in raw, removed in staging
            order_row("O4"),
            order_row("O4", city=""),  # a value against an empty one: a conflict too
        ],
    )
    result = load_source(conn, source("orders"), data)
    assert result.reconciles
    assert result.quarantine_reasons["conflicting duplicate key"] == 4
    rows = conn.execute("select line, reason from raw._quarantine order by line").fetchall()
    assert [line for line, _ in rows] == [2, 4, 8, 9]
    assert rows[0][1] == "conflicting duplicate key order_id=O1: lines 2, 4 differ in status, total"
    assert rows[2][1] == "conflicting duplicate key order_id=O4: lines 8, 9 differ in shipping_city"
    assert sorted(o for o, _ in loaded(conn)) == ["O2", "O2", "O3", "O3"]


def test_event_retries_with_the_same_message_id_are_not_conflicts(conn, tmp_path):
    import json

    data = tmp_path / "data"
    base = {"messageId": "m1", "type": "track", "event": "x", "timestamp": "2026-11-01T10:00:00Z"}
    lines = [
        json.dumps({**base, "sentAt": "2026-11-01T10:00:01Z"}),
        json.dumps({**base, "sentAt": "2026-11-01T10:05:00Z"}),
    ]
    (data / "events").mkdir(parents=True)
    (data / "events" / "e.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert load_source(conn, source("events"), data).rows_loaded == 2


def test_missing_data_folder_is_an_error_naming_the_setting(tmp_path):
    with pytest.raises(DataDirError, match="does not exist; set CDP_DATA_DIR"):
        check_data_dir(tmp_path / "dta", SOURCE_NAMES)


def test_empty_data_folder_is_an_error(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(DataDirError, match="holds no source files .it is empty"):
        check_data_dir(tmp_path / "data", SOURCE_NAMES)


def test_files_outside_their_source_folder_are_named(tmp_path):
    write_orders(tmp_path / "data" / "orders.csv", [order_row("O1")])
    with pytest.raises(DataDirError, match="orders.csv directly; move each into its source's folder"):
        check_data_dir(tmp_path / "data", SOURCE_NAMES)


def test_misspelled_source_folder_suggests_the_name(tmp_path):
    write_orders(tmp_path / "data" / "oders" / "o.csv", [order_row("O1")])
    write_orders(tmp_path / "data" / "crm_contacts" / "c.csv", ["x"])
    with pytest.raises(
        DataDirError, match="oders is not a source of the input contract; did you mean orders/"
    ):
        check_data_dir(tmp_path / "data", SOURCE_NAMES)


def test_a_shop_with_only_some_sources_is_fine(conn, tmp_path):
    data = tmp_path / "data"
    write_orders(data / "orders" / "o.csv", [order_row("O1")])
    (data / "archive").mkdir()
    # Sources without a folder load nothing, quietly: a shop need not have every source.
    assert ingest_source(conn, source("stores"), data).rows_in == 0
    assert ingest_source(conn, source("orders"), data).rows_loaded == 1


def test_a_source_with_every_row_quarantined_stops_the_build(conn, tmp_path):
    data = tmp_path / "data"
    write_orders(data / "orders" / "o.csv", [order_row("O1", total="1,5"), order_row("O2", total="")])
    with pytest.raises(SourceProblemError) as excinfo:
        ingest_source(conn, source("orders"), data)
    message = str(excinfo.value)
    assert message.startswith("source 'orders': all 2 row(s) were quarantined, none loaded")
    assert "field total (1)" in message and "missing required field total (1)" in message
    # Still loud on the next run, although the file is now recorded as loaded.
    with pytest.raises(SourceProblemError, match="all 2 row"):
        ingest_source(conn, source("orders"), data)


def test_an_unreadable_file_stops_the_build_after_loading_the_good_files(conn, tmp_path):
    data = tmp_path / "data"
    write_orders(data / "orders" / "good.csv", [order_row("O1")])
    bad = data / "orders" / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 not gzip at all")
    with pytest.raises(SourceProblemError) as excinfo:
        ingest_source(conn, source("orders"), data)
    assert str(bad) in str(excinfo.value) and "fix or replace the file and rerun" in str(excinfo.value)
    assert excinfo.value.result.rows_loaded == 1
    assert loaded(conn, "total") == [("O1", "100000")]


def test_a_new_export_with_every_row_quarantined_stops_the_build_until_fixed(conn, tmp_path):
    data = tmp_path / "data"
    write_orders(data / "orders" / "2026-11-01.csv", [order_row("O1")])
    ingest_source(conn, source("orders"), data)
    # The next night's export switched to decimal commas: every row is quarantined.
    broken = write_orders(data / "orders" / "2026-11-02.csv", [order_row("O2", total="1,5")], sep=";")
    for _ in range(2):  # loud on the run that loads it and on every run after, while the file is there
        with pytest.raises(SourceProblemError) as excinfo:
            ingest_source(conn, source("orders"), data)
        assert f"{broken}: all 1 row(s) quarantined, none loaded" in str(excinfo.value)
    broken.unlink()
    write_orders(data / "orders" / "2026-11-02-fixed.csv", [order_row("O2", total="1.5")])
    assert ingest_source(conn, source("orders"), data).rows_loaded == 1
