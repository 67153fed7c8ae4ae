"""dbt staging and identity models on a tiny hand-made raw fixture.

The fixture is loaded with the real loader (sen.ingest) into a temporary warehouse, then
`dbt build --select staging + intermediate/identity` runs (models and their data tests) and the results are
read back. Each fixture row exists for one behaviour a downstream user relies on: duplicates removed, late
events kept, local and offset timestamps landing on the same UTC instant, identifiers normalized to one
spelling, re-exports replacing older versions, erasure requests never linking identifiers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from sen.config import DBT_PROJECT_DIR
from sen.contracts import load_contract
from sen.ingest import load_source
from sen.normalize import register_udfs

SELECT = ["path:models/staging", "path:models/intermediate/identity"]
SAME_INSTANT = datetime(2026, 11, 1, 3, 0, 0)  # 10:00 in Ho Chi Minh City


def _web_context(url: str, path: str, **extra: object) -> dict:
    return {
        "library": {"name": "analytics.js", "version": "next-1.72.0"},
        "page": {"url": url, "path": path, "referrer": extra.pop("referrer", None)},
        "ip": "113.161.1.2",
        "userAgent": "Mozilla/5.0",
        **extra,
    }


IOS_CONTEXT = {
    "library": {"name": "analytics-ios", "version": "4.1.8"},
    "device": {"id": "IDFV-0001", "type": "ios", "token": "a1b2c3d4" * 8},
    "os": {"name": "iOS", "version": "18.0"},
}

IDENTIFY_WEB = {
    "messageId": "ajs-1",
    "type": "identify",
    "anonymousId": "anon-1",
    "userId": "c-001",
    "timestamp": "2026-11-01T03:00:00.000Z",
    "receivedAt": "2026-11-01T03:00:01.000Z",
    "traits": {"email": "  Lan.Nguyen@Gmail.COM ", "phone": "0912 345 678", "first_name": "Lan"},
    "context": _web_context("https://www.senmart.vn/dang-nhap", "/dang-nhap"),
}

EVENTS = [
    IDENTIFY_WEB,
    IDENTIFY_WEB,  # an SDK retry: the same message delivered twice
    {
        "messageId": "ajs-2",
        "type": "page",
        "name": "Trang chủ",
        "anonymousId": "anon-1",
        "timestamp": "2026-11-01T02:55:00.000Z",
        "receivedAt": "2026-11-01T02:55:01.000Z",
        "context": _web_context(
            "https://www.senmart.vn/?utm_source=facebook&utm_medium=paid_social&utm_campaign=bf2026"
            "&utm_term=giay+the+thao&fbclid=IwAR123",
            "/",
            referrer="https://facebook.com/",
            campaign={"source": "facebook", "medium": "paid_social", "name": "bf2026"},
        ),
    },
    {
        # A late event: sent from the app with a +07:00 offset, received three days later.
        "messageId": "6f1c-3",
        "type": "screen",
        "name": "Home",
        "anonymousId": "anon-2",
        "userId": "C-001",
        "timestamp": "2026-11-01T10:00:00.000+07:00",
        "receivedAt": "2026-11-04T01:00:00.000Z",
        "context": IOS_CONTEXT,
    },
    {
        "messageId": "6f1c-4",
        "type": "track",
        "event": "push_token_registered",
        "anonymousId": "anon-2",
        "timestamp": "2026-11-01T03:01:00.000Z",
        "receivedAt": "2026-11-01T03:01:01.000Z",
        "properties": {"token": "a1b2c3d4" * 8, "platform": "ios"},
        "context": IOS_CONTEXT,
    },
    {
        "messageId": "ajs-5",
        "type": "track",
        "event": "order_completed",
        "anonymousId": "anon-1",
        "userId": "c-001",
        "timestamp": "2026-11-01T03:05:00.000Z",
        "properties": {"order_id": "o-1", "revenue": 150000, "currency": "vnd"},
        "context": _web_context("https://www.senmart.vn/dat-hang-thanh-cong", "/dat-hang-thanh-cong"),
    },
    {
        "messageId": "ajs-6",
        "type": "identify",
        "anonymousId": "anon-4",
        "timestamp": "2026-11-02T00:00:00.000Z",
        "traits": {"email": "undefined"},
        "context": _web_context("https://www.senmart.vn/thanh-toan", "/thanh-toan"),
    },
]

ORDER_HEADER = (
    "order_id,customer_id,email,phone,anonymous_id,channel,status,currency,subtotal,discount,shipping_fee,"
    "total,coupon_code,shipping_city,is_test,created_at"
)
CSV_FILES = {
    "orders/orders_2026-11-01.csv": [
        ORDER_HEADER,
        "o-1,c-001, LAN.nguyen@gmail.com ,+84 912-345-678,anon-1,Web,Completed,,150000,0,0,150000,,Hà Nội,false,"
        "2026-11-01 10:00:00",
        "o-2,,guest@yahoo.com,0987654321,anon-3,app,completed,VND,99000.5,,,99000.5,sale10,,0,"
        "2026-11-01T10:00:00+07:00",
        "o-3,c-999,staff@senmart.vn,,,web,completed,VND,1,,,1,,,true,2026-11-02 09:00:00",
    ],
    # A later export of o-1 after a refund: it replaces the first version.
    "orders/orders_2026-11-02.csv": [
        ORDER_HEADER,
        "o-1,c-001, LAN.nguyen@gmail.com ,+84 912-345-678,anon-1,Web,Refunded,,150000,0,0,150000,,Hà Nội,false,"
        "2026-11-01 10:00:00",
    ],
    "order_lines/order_lines.csv": [
        "order_id,line_number,sku,quantity,unit_price,line_total",
        "o-1,1,sku-1,1,150000,150000",
        "o-2,1,SKU-2,2,49500.25,",
    ],
    "crm_contacts/crm_2026-11-01.csv": [
        "customer_id,email,phone,first_name,last_name,gender,birthday,city,country,created_at,updated_at,"
        "loyalty_member,loyalty_card_id,loyalty_joined_at,referred_by_customer_id,consent_email,consent_sms,"
        "consent_zalo,consent_push,consent_ads",
        "c-001,Lan.Nguyen@gmail.com ,0912345678,Lan,Nguyễn Thị,F,1990-05-01,Hà Nội,vn,2025-01-01 08:00:00,"
        "2026-10-01 08:00:00,yes,lc-77,2025-02-01,,true,false,1,0,no",
    ],
    # Loaded later but an older snapshot of the account: the newer updated_at still wins.
    "crm_contacts/crm_2026-11-02.csv": [
        "customer_id,email,phone,first_name,last_name,gender,birthday,city,country,created_at,updated_at,"
        "loyalty_member,loyalty_card_id,loyalty_joined_at,referred_by_customer_id,consent_email,consent_sms,"
        "consent_zalo,consent_push,consent_ads",
        "C-001,Lan.Nguyen@gmail.com,0912345678,Lan,Nguyễn Thị,F,1990-05-01,Đà Nẵng,VN,2025-01-01 08:00:00,"
        "2026-09-01 08:00:00,yes,lc-77,2025-02-01,,true,true,1,0,no",
    ],
    "pos_transactions/pos.csv": [
        "transaction_id,line_number,store_id,transacted_at,phone,loyalty_card_id,customer_id,sku,quantity,"
        "unit_price,line_total,currency,payment_method,status",
        "t-1,1,s01,2026-11-03 19:00:00,0912 345 678,LC-77,,SKU-1,1,150000,150000,,Cash,",
        "t-1,2,s01,2026-11-03 19:00:00,0912 345 678,LC-77,,SKU-2,1,50000,50000,,Cash,VOIDED",
    ],
    "stores/stores.csv": [
        "store_id,name,city,country,opened_at",
        "S01,Sen Mart Cầu Giấy,Hà Nội,Việt Nam,2020-01-01",
    ],
    "products/products.csv": [
        "sku,name,category,price",
        "SKU-1,Giày chạy bộ,Shoes,150000",
        "SKU-2,Sữa bột,Baby,49500.25",
    ],
    "erasure_requests/erasure.csv": [
        "request_id,customer_id,email,phone,requested_at",
        "r-1,,tam.biet@yahoo.com.vn,0901 111 222,2026-11-05T00:00:00Z",
    ],
    "email_events/esp.csv": [
        "event_id,email,campaign_id,event_type,url,occurred_at",
        "ee-1,LAN.NGUYEN@gmail.com,cmp-1,Opened,,2026-11-02 00:00:00",
    ],
}
CHATS = [
    {
        "conversation_id": "ch-1",
        "platform": "Zalo",
        "platform_user_id": "8412345",
        "phone": "+84912345678",
        "started_at": "2026-11-02T01:00:00Z",
        "customer_messages": 3,
    }
]


def _write_fixture(data: Path) -> None:
    for relative, lines in CSV_FILES.items():
        path = data / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for folder, records in (("events", EVENTS), ("chat_conversations", CHATS)):
        (data / folder).mkdir()
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        (data / folder / f"{folder}.jsonl").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("staging")
    data, db = root / "data", root / "warehouse.duckdb"
    _write_fixture(data)
    conn = duckdb.connect(str(db))
    try:
        for source in load_contract().sources.values():
            result = load_source(conn, source, data)
            assert result.rows_quarantined == 0, (source.name, result.quarantine_reasons)
    finally:
        conn.close()

    # A separate process, as in production: dbt-duckdb keeps its database open for the life of the process.
    env = {**os.environ, "CDP_WAREHOUSE": str(db), "CDP_AS_OF": "2026-11-21"}
    args = [str(Path(sys.executable).with_name("dbt")), "build", "--select", *SELECT]
    args += ["--indirect-selection", "cautious", "--project-dir", str(DBT_PROJECT_DIR)]
    args += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(root / "target")]
    args += ["--log-path", str(root / "logs")]
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    results = json.loads((root / "target" / "run_results.json").read_text())["results"]
    assert len(results) > 20 and all(r["status"] in ("success", "pass") for r in results)
    yield db


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(db), read_only=True)
    register_udfs(conn)  # staging views call the normalization UDFs, as every reader of them must
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_duplicate_events_collapse_to_one_row_per_message(warehouse: Path) -> None:
    assert _rows(warehouse, "select count(*) from raw.events") == [(7,)]
    rows = _rows(
        warehouse, "select event_id, count(*) from staging.stg_tracking__events group by 1 order by 1"
    )
    assert [r[0] for r in rows] == ["6f1c-3", "6f1c-4", "ajs-1", "ajs-2", "ajs-5", "ajs-6"]
    assert all(n == 1 for _, n in rows)


def test_late_event_kept_at_its_event_time_and_offsets_land_in_utc(warehouse: Path) -> None:
    rows = _rows(
        warehouse,
        "select occurred_at, received_at, platform, device_id, customer_id from staging.stg_tracking__events "
        "where event_id = '6f1c-3'",
    )
    assert rows == [(SAME_INSTANT, datetime(2026, 11, 4, 1, 0), "ios", "IDFV-0001", "C-001")]


def test_naive_local_and_offset_timestamps_are_the_same_utc_instant(warehouse: Path) -> None:
    rows = _rows(warehouse, "select order_id, created_at from staging.stg_shop__orders order by 1")
    assert dict(rows)["o-1"] == dict(rows)["o-2"] == SAME_INSTANT


def test_identifiers_are_normalized_and_raw_values_kept(warehouse: Path) -> None:
    event = _rows(
        warehouse,
        "select email, email_raw, phone, customer_id from staging.stg_tracking__events where event_id = 'ajs-1'",
    )
    assert event == [("lan.nguyen@gmail.com", "  Lan.Nguyen@Gmail.COM ", "+84912345678", "C-001")]
    order = _rows(
        warehouse, "select email, phone, phone_raw from staging.stg_shop__orders where order_id = 'o-1'"
    )
    assert order == [("lan.nguyen@gmail.com", "+84912345678", "+84 912-345-678")]
    pos = _rows(warehouse, "select distinct phone from staging.stg_pos__transaction_lines")
    assert pos == [("+84912345678",)]
    junk = _rows(
        warehouse, "select email, email_raw from staging.stg_tracking__events where event_id = 'ajs-6'"
    )
    assert junk == [(None, "undefined")]


def test_web_attribution_from_context_and_url(warehouse: Path) -> None:
    rows = _rows(
        warehouse,
        "select utm_source, utm_medium, utm_campaign, utm_term, click_id, click_id_type, page_path, platform, "
        "event_name, page_name from staging.stg_tracking__events where event_id = 'ajs-2'",
    )
    assert rows == [
        (
            "facebook",
            "paid_social",
            "bf2026",
            "giay the thao",
            "IwAR123",
            "fbclid",
            "/",
            "web",
            "page",
            "Trang chủ",
        )
    ]


def test_typed_amounts_and_defaults(warehouse: Path) -> None:
    orders = _rows(
        warehouse,
        "select order_id, status, channel, currency, total, coupon_code, is_test from staging.stg_shop__orders "
        "order by 1",
    )
    assert orders[0] == ("o-1", "refunded", "web", "VND", Decimal("150000.00"), None, False)
    assert orders[1][4:6] == (Decimal("99000.50"), "SALE10")
    assert orders[2][6] is True
    line = _rows(
        warehouse, "select line_total, sku from staging.stg_shop__order_lines where order_id = 'o-2'"
    )
    assert line == [(Decimal("99000.50"), "SKU-2")]
    revenue = _rows(
        warehouse, "select revenue, currency from staging.stg_tracking__events where event_id = 'ajs-5'"
    )
    assert revenue == [(Decimal("150000.00"), "VND")]


def test_crm_keeps_the_most_recently_updated_version(warehouse: Path) -> None:
    rows = _rows(
        warehouse,
        "select customer_id, city, country, updated_at, loyalty_member, loyalty_card_id, consent_sms, consent_zalo "
        "from staging.stg_crm__contacts",
    )
    assert rows == [("C-001", "Hà Nội", "VN", datetime(2026, 10, 1, 1, 0), True, "LC-77", False, True)]


def test_pos_header_and_lines(warehouse: Path) -> None:
    header = _rows(
        warehouse,
        "select transaction_id, store_id, transacted_at, status, n_lines, total_amount, completed_amount "
        "from staging.stg_pos__transactions",
    )
    assert header == [
        (
            "t-1",
            "S01",
            datetime(2026, 11, 3, 12, 0),
            "completed",
            2,
            Decimal("200000.00"),
            Decimal("150000.00"),
        )
    ]


def test_push_tokens_belong_to_the_latest_logged_in_user(warehouse: Path) -> None:
    rows = _rows(
        warehouse,
        "select push_token, platform, customer_id, device_id, registered_at from staging.stg_tracking__push_tokens",
    )
    assert rows == [("a1b2c3d4" * 8, "ios", "C-001", "IDFV-0001", datetime(2026, 11, 1, 3, 1))]


def test_identity_nodes_join_spellings_across_sources(warehouse: Path) -> None:
    rows = _rows(
        warehouse,
        "select identifier_type, identifier_value, sources, n_records, first_seen_at from "
        "intermediate.int_identity_nodes where identifier_type in ('email', 'phone', 'platform_user_id') "
        "order by 1, 2",
    )
    assert rows == [
        ("email", "guest@yahoo.com", "orders", 1, SAME_INSTANT),
        ("email", "lan.nguyen@gmail.com", "crm,email_events,events,orders", 4, datetime(2025, 1, 1, 1, 0)),
        ("email", "tam.biet@yahoo.com.vn", "erasure", 1, datetime(2026, 11, 5)),
        ("phone", "+84901111222", "erasure", 1, datetime(2026, 11, 5)),
        ("phone", "+84912345678", "chat,crm,events,orders,pos", 5, datetime(2025, 1, 1, 1, 0)),
        ("phone", "+84987654321", "orders", 1, SAME_INSTANT),
        ("platform_user_id", "zalo:8412345", "chat", 1, datetime(2026, 11, 2, 1, 0)),
    ]
    test_order = _rows(warehouse, "select count(*) from intermediate.int_identity_nodes where identifier_value "
                       "in ('staff@senmart.vn', 'C-999')")  # fmt: skip
    assert test_order == [(0,)]


def test_identity_edges_are_canonical_and_never_come_from_erasures(warehouse: Path) -> None:
    edges = _rows(
        warehouse,
        "select id_a_type, id_a, id_b_type, id_b, source, n_records from intermediate.int_identity_edges",
    )
    assert all((a_type, a) < (b_type, b) for a_type, a, b_type, b, _, _ in edges)
    assert not [e for e in edges if "tam.biet@yahoo.com.vn" in e or "+84901111222" in e or e[4] == "erasure"]
    customer_email = {
        (e[4], e[5]) for e in edges if e[:4] == ("customer_id", "C-001", "email", "lan.nguyen@gmail.com")
    }
    assert customer_email == {("crm", 1), ("events", 1), ("orders", 1)}
    assert ("phone", "+84912345678", "platform_user_id", "zalo:8412345", "chat", 1) in edges
    anon_customer = {
        (e[4], e[5]) for e in edges if e[:4] == ("anonymous_id", "anon-1", "customer_id", "C-001")
    }
    assert anon_customer == {("events", 2), ("orders", 1)}
