"""FCM push and Zalo ZNS: one message per person, never twice, contact ledger, dead tokens."""

from __future__ import annotations

import json

import pytest
from retl_helpers import base_sync, make_audience, sync_from

from reverse_etl.engine import run_sync
from reverse_etl.testing.server import Fault
from reverse_etl.testing.standins import FcmStandin, ZaloStandin


@pytest.fixture
def fcm_sync(fcm: FcmStandin):
    data = base_sync(
        "fcm_test",
        {
            "type": "fcm",
            "project_id": "sen-app",
            "token_env": "FCM_TOKEN",
            "base_url": fcm.base_url,
            "title_template": "Giỏ hàng đang chờ",
            "body_template": "Chào $name!",
            "batch_size": 8,
        },
        {"token": "push_token", "data.name": "display_name"},
        mode="insert",
        campaign="cart_abandon",
    )
    return lambda **o: sync_from(data, **o)


def ledger(conn, sync: str) -> list[tuple]:
    return conn.execute(
        "SELECT person_id, channel, campaign, destination, delivery FROM sync.contact_ledger "
        "WHERE sync_name = ? ORDER BY person_id",
        [sync],
    ).fetchall()


def test_fcm_one_message_per_token_and_ledger(warehouse, fcm: FcmStandin, fcm_sync) -> None:
    make_audience(warehouse, 20)
    result = run_sync(warehouse, fcm_sync())
    assert result.status == "success" and result.sent_rows == 20
    assert fcm.per_token() == {f"tok-{i}": 1 for i in range(20)}
    msg = next(m for m in fcm.messages if m["token"] == "tok-3")
    assert msg["notification"] == {"title": "Giỏ hàng đang chờ", "body": "Chào Khách 3!"}
    assert msg["data"]["name"] == "Khách 3" and all(isinstance(v, str) for v in msg["data"].values())
    rows = ledger(warehouse, "fcm_test")
    assert len(rows) == 20 and rows[0] == ("p000000", "push", "cart_abandon", "fcm", "acknowledged")
    # nobody new: nothing sent; one newcomer: exactly one message
    assert run_sync(warehouse, fcm_sync()).requests == 0
    make_audience(warehouse, 1, table="newcomer", start=20)
    warehouse.execute("INSERT INTO audience_test SELECT * FROM newcomer")
    assert run_sync(warehouse, fcm_sync()).sent_rows == 1
    assert sum(fcm.per_token().values()) == 21 and len(ledger(warehouse, "fcm_test")) == 21


def test_unregistered_token_is_recorded_dead_and_excluded(warehouse, fcm: FcmStandin, fcm_sync) -> None:
    make_audience(warehouse, 5)
    fcm.unregistered.add("tok-2")
    result = run_sync(warehouse, fcm_sync())
    assert result.sent_rows == 4 and result.rejected == 1
    dead = warehouse.execute("SELECT token, sync_name FROM sync.dead_push_tokens").fetchall()
    assert dead == [("tok-2", "fcm_test")]
    requests_before = len(fcm.log)
    again = run_sync(warehouse, fcm_sync())
    assert len(fcm.log) == requests_before  # the dead token is not tried again
    reason = warehouse.execute(
        "SELECT reason, stage FROM sync.sync_rejections WHERE run_id = ?", [again.run_id]
    ).fetchone()
    assert reason == ("fcm: push token is unregistered", "validation")
    assert [r[0] for r in ledger(warehouse, "fcm_test")] == ["p000000", "p000001", "p000003", "p000004"]


def test_payload_over_4096_bytes_is_rejected_before_sending(warehouse, fcm: FcmStandin, fcm_sync) -> None:
    make_audience(warehouse, 3)
    warehouse.execute("UPDATE audience_test SET display_name = repeat('x', 5000) WHERE person_id = 'p000001'")
    result = run_sync(warehouse, fcm_sync())
    assert result.sent_rows == 2 and len(fcm.log) == 2
    reason = warehouse.execute(
        "SELECT reason FROM sync.sync_rejections WHERE primary_key = 'p000001'"
    ).fetchone()[0]
    assert reason.startswith("fcm: payload") and "exceeds 4096" in reason


def test_fcm_ambiguous_send_is_never_repeated(warehouse, fcm: FcmStandin, fcm_sync) -> None:
    make_audience(warehouse, 10)
    fcm.inject(Fault.hook(lambda r: None, count=3), Fault.drop_after(), Fault.status_code(503, count=2))
    result = run_sync(warehouse, fcm_sync(destination={"batch_size": 1}))
    assert result.status == "success"
    assert fcm.per_token() == {f"tok-{i}": 1 for i in range(10)}  # 503s retried, the dropped one not resent
    statuses = dict(
        warehouse.execute("SELECT status, count(*) FROM sync.message_outbox GROUP BY 1").fetchall()
    )
    assert statuses == {"sent": 9, "unknown": 1}
    assert run_sync(warehouse, fcm_sync()).requests == 0
    deliveries = [r[4] for r in ledger(warehouse, "fcm_test")]
    assert deliveries.count("unconfirmed") == 1 and deliveries.count("acknowledged") == 9


def test_fcm_timeout_is_ambiguous_too(warehouse, fcm: FcmStandin, fcm_sync) -> None:
    make_audience(warehouse, 4)
    fcm.inject(Fault.timeout(0.5))
    result = run_sync(warehouse, fcm_sync(destination={"timeout_s": 0.2, "batch_size": 1}))
    assert result.status == "success" and result.retries == 0
    import time

    time.sleep(0.4)  # let the slow request finish on the server
    assert fcm.per_token() == {f"tok-{i}": 1 for i in range(4)}


# ---------------------------------------------------------------------------- Zalo


@pytest.fixture
def zalo_sync(zalo: ZaloStandin):
    data = base_sync(
        "zalo_test",
        {"type": "zalo_zns", "template_id": "tpl-1", "token_env": "ZALO_TOKEN", "base_url": zalo.base_url},
        {"phone": "phone", "template_data.name": "display_name"},
        mode="insert",
        campaign="replenishment",
    )
    return lambda **o: sync_from(data, **o)


def test_zalo_phones_as_84_and_throttle_retry(warehouse, zalo: ZaloStandin, zalo_sync) -> None:
    make_audience(warehouse, 8)
    warehouse.execute("UPDATE audience_test SET phone = '0000' WHERE person_id = 'p000006'")
    zalo.refuse_phones["84912000005"] = -118  # not a Zalo user
    zalo.inject(ZaloStandin.throttle(count=2))
    result = run_sync(warehouse, zalo_sync())
    assert result.status == "success" and result.retries == 2
    assert set(zalo.per_phone()) == {f"8491200000{i}" for i in (0, 1, 2, 3, 4, 7)}
    first = next(m for m in zalo.messages if m["phone"] == "84912000000")
    assert first["template_data"] == {"name": "Khách 0"} and first["tracking_id"]
    reasons = dict(warehouse.execute("SELECT primary_key, reason FROM sync.sync_rejections").fetchall())
    assert reasons["p000005"] == "zalo: error -118 refused"
    assert reasons["p000006"] == "no valid identifier: phone invalid"
    assert {r[1] for r in ledger(warehouse, "zalo_test")} == {"zalo"}


@pytest.mark.parametrize("delivery", ["at_most_once", "at_least_once"])
def test_zalo_dropped_answer_never_doubles_a_message(
    warehouse, zalo: ZaloStandin, zalo_sync, delivery
) -> None:
    make_audience(warehouse, 3)
    zalo.inject(Fault.drop_after())
    result = run_sync(warehouse, zalo_sync(destination={"delivery": delivery, "batch_size": 1}))
    assert result.status == "success"
    assert zalo.per_phone() == {"84912000000": 1, "84912000001": 1, "84912000002": 1}
    outbox = dict(warehouse.execute("SELECT status, count(*) FROM sync.message_outbox GROUP BY 1").fetchall())
    # at-most-once gives up on the unknown outcome; at-least-once resends the same tracking_id (deduplicated)
    assert outbox == ({"sent": 2, "unknown": 1} if delivery == "at_most_once" else {"sent": 3})


def test_message_keys_are_recorded_before_sending(warehouse, zalo: ZaloStandin, zalo_sync) -> None:
    make_audience(warehouse, 2)
    seen: list[tuple] = []

    def check(request) -> None:  # runs inside the stand-in while the request is being answered
        key = json.loads(request.body)["tracking_id"]
        seen.append((key, key in intents()))

    def intents() -> set[str]:
        return {
            k for (k,) in warehouse.cursor().execute("SELECT message_key FROM sync.message_outbox").fetchall()
        }

    zalo.inject(Fault.hook(check, count=2))
    run_sync(warehouse, zalo_sync())
    assert len(seen) == 2 and all(found for _, found in seen)


def test_json_object_columns_feed_push_data_and_zalo_templates(
    warehouse, fcm: FcmStandin, zalo: ZaloStandin
) -> None:
    """Audience models carry `properties` / `template_data` as JSON text and a per-row template."""
    make_audience(warehouse, 3)
    warehouse.execute(
        """ALTER TABLE audience_test ADD COLUMN properties VARCHAR;
        ALTER TABLE audience_test ADD COLUMN template_id VARCHAR;
        UPDATE audience_test SET properties = '{"n_items": 2, "cart_value": 450000.5, "stage": "3h", "x": null}',
                                 template_id = 'tpl-1';
        UPDATE audience_test SET properties = 'not json' WHERE person_id = 'p000002'"""
    )
    push = sync_from(
        base_sync(
            "fcm_json",
            {"type": "fcm", "project_id": "sen-app", "token_env": "FCM_TOKEN", "base_url": fcm.base_url},
            {"token": "push_token", "title": "display_name", "data": "properties"},
            mode="insert",
            campaign="cart_abandoners",
        )
    )
    result = run_sync(warehouse, push)
    assert result.sent_rows == 2 and result.rejected == 1
    msg = next(m for m in fcm.messages if m["token"] == "tok-0")
    assert (
        msg["data"]["n_items"] == "2" and msg["data"]["cart_value"] == "450000.5" and "x" not in msg["data"]
    )
    assert msg["notification"] == {"title": "Khách 0"}
    reason = warehouse.execute(
        "SELECT reason FROM sync.sync_rejections WHERE primary_key = 'p000002'"
    ).fetchone()[0]
    assert reason == "fcm: data: not valid JSON"

    warehouse.execute('UPDATE audience_test SET properties = \'{"stage": "3h"}\'')
    zns = sync_from(
        base_sync(
            "zalo_json",
            {"type": "zalo_zns", "token_env": "ZALO_TOKEN", "base_url": zalo.base_url},
            {"phone": "phone", "template_id": "template_id", "template_data": "properties"},
            mode="insert",
            campaign="cart_abandoners",
        )
    )
    assert run_sync(warehouse, zns).sent_rows == 3
    assert {m["template_id"] for m in zalo.messages} == {"tpl-1"}
    assert zalo.messages[0]["template_data"] == {"stage": "3h"}
