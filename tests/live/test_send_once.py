"""send_once: a message sync keyed by an idempotency key (person + cart + stage) sends each key once, ever."""

from __future__ import annotations

import duckdb
import pytest

from reverse_etl.config import parse_sync
from reverse_etl.engine import run_sync
from reverse_etl.errors import SyncConfigError
from reverse_etl.testing.standins import FcmStandin

TOKEN = "ya29.fcm-live-SECRET-token"
RETRY = {"max_attempts": 4, "initial_backoff_s": 0.005, "max_backoff_s": 0.05, "jitter_s": 0.005}


@pytest.fixture
def fcm(monkeypatch):
    monkeypatch.setenv("FCM_LIVE_TOKEN", TOKEN)
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    monkeypatch.delenv("CDP_SYNC_DRY_RUN", raising=False)
    with FcmStandin(token=TOKEN, project_id="sen-app") as server:
        yield server


def cart_sync(fcm: FcmStandin, send_once: bool = True):
    return parse_sync(
        {
            "name": "fcm_cart_test",
            "model": "audience_cart_test",
            "primary_key": "message_key",
            "person_id_column": "person_id",
            "send_once": send_once,
            "mode": "insert",
            "schedule": "*/15 * * * *",
            "campaign": "cart_abandoners",
            "mapping": {"token": "push_token", "title": "title", "body": "body", "data.stage": "stage"},
            "destination": {
                "type": "fcm",
                "project_id": "sen-app",
                "token_env": "FCM_LIVE_TOKEN",
                "base_url": fcm.base_url,
                "retry": RETRY,
                "timeout_s": 2.0,
            },
        },
        source="<test fcm_cart_test>",
    )


def audience(conn: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, int]]) -> None:
    """(person, cart, stage) rows as the cart audience holds them: one row per person and current stage."""
    conn.execute(
        "CREATE OR REPLACE TABLE audience_cart_test (message_key VARCHAR, person_id VARCHAR, push_token VARCHAR, "
        "title VARCHAR, body VARCHAR, stage VARCHAR)"
    )
    for person, cart, stage in rows:
        conn.execute(
            "INSERT INTO audience_cart_test VALUES (?, ?, ?, 'Giỏ hàng', 'Còn trong giỏ', ?)",
            [f"cart_abandoners:{person}:{cart}:{stage}", person, f"tok-{person}", str(stage)],
        )


def stages_sent(fcm: FcmStandin) -> list[tuple[str, str]]:
    return sorted((m["token"], m["data"]["stage"]) for m in fcm.messages)


def test_each_stage_once_even_when_a_key_comes_back(fcm: FcmStandin) -> None:
    conn = duckdb.connect()
    sync = cart_sync(fcm)
    audience(conn, [("p1", "c1", 1), ("p2", "c2", 1)])
    assert run_sync(conn, sync).sent_rows == 2
    assert run_sync(conn, sync).sent_rows == 0  # a rerun: nothing new
    audience(conn, [("p1", "c1", 2), ("p2", "c2", 1)])  # p1's next stage came due
    assert run_sync(conn, sync).sent_rows == 1
    # p1 was active on the cart again: its stages restart and stage 1 of the same cart is current again. The
    # state forgot that key when it left the audience; the outbox did not.
    audience(conn, [("p1", "c1", 1), ("p2", "c2", 1)])
    result = run_sync(conn, sync)
    assert result.sent_rows == 0 and result.requests == 0
    assert stages_sent(fcm) == [("tok-p1", "1"), ("tok-p1", "2"), ("tok-p2", "1")]
    # the contact ledger has one row per message, with the message key a rerun reuses
    ledger = conn.execute(
        "SELECT person_id, count(*), count(DISTINCT message_key) FROM sync.contact_ledger GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert ledger == [("p1", 2, 2), ("p2", 1, 1)]
    # a new cart of the same person is a new key: sent
    audience(conn, [("p1", "c9", 1), ("p2", "c2", 1)])
    assert run_sync(conn, sync).sent_rows == 1


def test_without_send_once_a_returning_key_is_sent_again(fcm: FcmStandin) -> None:
    """What send_once prevents: the diff state alone forgets a key that left the audience."""
    conn = duckdb.connect()
    sync = cart_sync(fcm, send_once=False)
    audience(conn, [("p1", "c1", 1)])
    run_sync(conn, sync)
    audience(conn, [("p1", "c1", 2)])
    run_sync(conn, sync)
    audience(conn, [("p1", "c1", 1)])
    assert run_sync(conn, sync).sent_rows == 1
    assert stages_sent(fcm) == [("tok-p1", "1"), ("tok-p1", "1"), ("tok-p1", "2")]


def test_send_once_is_only_for_message_syncs(fcm: FcmStandin) -> None:
    data = cart_sync(fcm).model_dump()
    data.update(
        mode="add_remove",
        destination={
            "type": "webhook",
            "secret_env": "X",
            "base_url": "http://127.0.0.1:9",
            "contact_on_add": True,
            "contact_channel": "push",
        },
        mapping={"token": {"column": "push_token"}},
    )
    data.pop("source_file", None)
    with pytest.raises(SyncConfigError, match="send_once: only for mode insert"):
        parse_sync(data, source="<bad>")


def test_the_cart_syncs_of_the_repository_send_each_stage_once() -> None:
    from reverse_etl.config import load_syncs
    from sen.settings import REPO_ROOT

    syncs = {s.name: s for s in load_syncs(REPO_ROOT / "reverse_etl" / "syncs")}
    for name in ("fcm_cart_abandoners", "zalo_cart_abandoners"):
        cfg = syncs[name]
        assert (cfg.primary_key, cfg.person_column, cfg.send_once, cfg.live) == (
            "message_key",
            "person_id",
            True,
            True,
        )
