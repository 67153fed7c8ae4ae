"""Loading source files: idempotent, quarantining bad rows, stopping on a missing column, nothing good lost."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from sen.contracts import load_contract
from sen.ingest import MissingColumnError, load_source

STORES_HEADER = "store_id,name,city,country,opened_at\n"


@pytest.fixture
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield connection
    connection.close()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def source(name: str):
    return load_contract().sources[name]


def test_same_file_twice_adds_nothing(conn, tmp_path):
    data = tmp_path / "data"
    write(data / "stores" / "stores.csv", STORES_HEADER + "S1,Quận 1,TP. Hồ Chí Minh,VN,2020-01-01\n")
    first = load_source(conn, source("stores"), data)
    # The same content under another name (a re-delivered export) is recognised by its checksum.
    write(data / "stores" / "stores_copy.csv", STORES_HEADER + "S1,Quận 1,TP. Hồ Chí Minh,VN,2020-01-01\n")
    second = load_source(conn, source("stores"), data)
    assert first.rows_loaded == 1
    assert second.rows_in == 0 and len(second.files_already_loaded) == 2
    assert conn.execute("select count(*) from raw.stores").fetchone()[0] == 1


def test_malformed_rows_are_quarantined_with_line_and_reason(conn, tmp_path):
    data = tmp_path / "data"
    write(
        data / "orders" / "orders.csv",
        "order_id,customer_id,email,phone,anonymous_id,channel,status,currency,subtotal,discount,shipping_fee,"
        "total,coupon_code,shipping_city,is_test,created_at\n"
        "O1,C1,a@b.vn,0912345678,,web,completed,VND,100000,0,0,100000,,Hà Nội,false,2026-11-01 10:00:00\n"
        "O2,C2,,,,web,completed,VND,,,,not-a-number,,,false,2026-11-01 11:00:00\n"
        "O3,C3,,,,kiosk,completed,VND,,,,5000,,,false,2026-11-01 12:00:00\n"
        "O4,C4,,,,app,completed,VND,,,,5000,,,false,yesterday\n"
        ",C5,,,,app,completed,VND,,,,5000,,,false,2026-11-01 12:00:00\n"
        "O6,C6,too,few,fields\n"
        "O7,C7,c@d.vn,,,app,completed,VND,,,,7000,,,false,2026-11-02T01:00:00+07:00\n",
    )
    result = load_source(conn, source("orders"), data)
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (7, 2, 5)
    assert result.reconciles
    rows = dict(conn.execute("select line, reason from raw._quarantine order by line").fetchall())
    assert rows[3].startswith("field total: not a valid decimal")
    assert rows[4].startswith("field channel: value not accepted")
    assert rows[5].startswith("field created_at: not a valid timestamp")
    assert rows[6] == "missing required field order_id"
    assert rows[7] == "expected 16 fields, found 5"
    loaded = conn.execute("select order_id, _source_line from raw.orders order by 1").fetchall()
    assert loaded == [("O1", 2), ("O7", 8)]


def test_missing_required_column_stops_the_source(conn, tmp_path):
    data = tmp_path / "data"
    write(data / "stores" / "a.csv", STORES_HEADER + "S1,One,Hà Nội,VN,2020-01-01\n")
    write(data / "stores" / "b.csv", "store_id,city\nS2,Huế\n")
    with pytest.raises(MissingColumnError) as excinfo:
        load_source(conn, source("stores"), data)
    message = str(excinfo.value)
    assert "b.csv" in message and "name" in message
    # Nothing from the source was loaded, so fixing the file and rerunning loads everything once.
    assert conn.execute("select count(*) from raw.stores").fetchone()[0] == 0


def test_jsonl_missing_required_key_stops_the_source(conn, tmp_path):
    data = tmp_path / "data"
    lines = [json.dumps({"messageId": f"m{i}", "type": "track", "anonymousId": "a"}) for i in range(3)]
    write(data / "events" / "2026-11-01.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(MissingColumnError, match="timestamp"):
        load_source(conn, source("events"), data)


def test_unreadable_file_is_reported_and_good_files_still_load(conn, tmp_path):
    data = tmp_path / "data"
    write(data / "stores" / "good.csv", STORES_HEADER + "S1,One,Hà Nội,VN,2020-01-01\n")
    bad = data / "stores" / "broken.csv.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 this is not really gzip")
    result = load_source(conn, source("stores"), data)
    assert result.rows_loaded == 1
    assert list(result.files_unreadable) == [str(bad)]
    assert "unreadable file" in result.files_unreadable[str(bad)]
    reason = conn.execute("select reason from raw._quarantine where file_path = ?", [str(bad)]).fetchone()[0]
    assert "unreadable" in reason
    # Not recorded as loaded: once the file is fixed, it loads.
    with gzip.open(bad, "wt", encoding="utf-8") as handle:
        handle.write(STORES_HEADER + "S2,Two,Huế,VN,2021-01-01\n")
    assert load_source(conn, source("stores"), data).rows_loaded == 1
    assert conn.execute("select count(*) from raw.stores").fetchone()[0] == 2


def test_jsonl_events_keep_nested_json_and_quarantine_broken_lines(conn, tmp_path):
    data = tmp_path / "data"
    good = {
        "messageId": "m1",
        "type": "identify",
        "anonymousId": "anon-1",
        "userId": "C1",
        "timestamp": "2026-11-01T10:00:00Z",
        "context": {"device": {"id": "dev-1"}},
        "traits": {"email": " An.Nguyen@Example.VN "},
    }
    write(data / "events" / "2026-11-01.jsonl", json.dumps(good) + "\n{not json\n")
    result = load_source(conn, source("events"), data)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    context, traits = conn.execute("select context, traits from raw.events").fetchone()
    assert json.loads(context)["device"]["id"] == "dev-1"
    assert json.loads(traits)["email"] == " An.Nguyen@Example.VN "
    line, reason = conn.execute("select line, reason from raw._quarantine").fetchone()
    assert line == 2 and reason.startswith("malformed JSON")


def test_parquet_files_load(conn, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "data" / "stores"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table({"store_id": ["S1", "S2"], "name": ["One", None], "city": ["Hà Nội", "Huế"]}),
        folder / "stores.parquet",
    )
    result = load_source(conn, source("stores"), tmp_path / "data")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)


def test_a_raw_table_of_an_older_contract_gains_the_new_columns(conn, tmp_path):
    # A warehouse built before the contract gained group_id/previous_id (the collector's group and alias calls):
    # its raw.events lacks them, and the next load must widen it rather than fail on the column count.
    events = source("events")
    old_columns = [c for c in events.column_names if c not in ("group_id", "previous_id")]
    conn.execute("create schema raw")
    conn.execute(
        "create table raw.events ("
        + ", ".join(f'"{c}" varchar' for c in old_columns)
        + ", _source_file varchar, _source_line bigint, _file_sha256 varchar, _load_id varchar,"
        " _loaded_at timestamptz)"
    )
    event = {
        "messageId": "m-1",
        "type": "group",
        "anonymousId": "a-1",
        "groupId": "g-9",
        "timestamp": "2026-11-20T10:00:00Z",
    }
    write(tmp_path / "data" / "events" / "e.jsonl", json.dumps(event) + "\n")
    result = load_source(conn, events, tmp_path / "data")
    assert result.rows_loaded == 1
    assert conn.execute("select group_id, message_id from raw.events").fetchall() == [("g-9", "m-1")]
