"""Generic signed webhook (incl. mirror mode) and CSV/Parquet file export."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import httpx
import pytest
from retl_helpers import base_sync, make_audience, sync_from

from reverse_etl.destinations.webhook import sign
from reverse_etl.engine import run_sync
from reverse_etl.testing.server import Fault
from reverse_etl.testing.standins import WebhookStandin


@pytest.fixture
def hook_sync(webhook: WebhookStandin):
    data = base_sync(
        "hook_test",
        {
            "type": "webhook",
            "base_url": webhook.base_url,
            "path": "/hook",
            "secret_env": "HOOK_SECRET",
            "batch_size": 7,
        },
        {
            "email": "email",
            "email_sha256": {"column": "email", "transform": "meta_email_sha256"},
            "name": "display_name",
        },
        mode="mirror",
    )
    return lambda **o: sync_from(data, **o)


def test_webhook_batches_are_signed(webhook: WebhookStandin) -> None:
    body = b'{"action": "upsert", "records": []}'
    ok = httpx.post(
        f"{webhook.base_url}/hook",
        content=body,
        headers={"X-Sen-Timestamp": "1", "X-Sen-Signature": sign("whsec_SECRET_hmac_5566", "1", body)},
    )
    assert ok.status_code == 401 and ok.json()["error"] == "stale timestamp"
    forged = httpx.post(
        f"{webhook.base_url}/hook",
        content=body,
        headers={"X-Sen-Timestamp": "1", "X-Sen-Signature": "sha256=00"},
    )
    assert forged.json()["error"] == "bad signature"


def test_webhook_mirror_never_deletes_what_it_did_not_create(
    warehouse, webhook: WebhookStandin, hook_sync
) -> None:
    make_audience(warehouse, 20)
    # p000003 already existed at the destination (created by someone else)
    webhook.seed("p000003", {"email": "owned.elsewhere@example.com"})
    webhook.seed("outsider", {"email": "outsider@example.com"})
    result = run_sync(warehouse, hook_sync())
    assert (
        result.sent_rows == 20
        and webhook.records["p000005"]["email_sha256"] == hashlib.sha256(b"user.5@example.com").hexdigest()
    )
    warehouse.execute("DELETE FROM audience_test WHERE person_id IN ('p000003', 'p000004')")
    webhook.inject(Fault.drop_after())  # the delete batch is applied but its answer is lost, then retried
    result = run_sync(warehouse, hook_sync())
    assert result.removed == 2 and result.retries == 1
    assert "p000004" not in webhook.records  # created by this sync: deleted
    assert "p000003" in webhook.records  # pre-existing: left alone
    assert "outsider" in webhook.records  # never part of the sync: never touched
    assert (
        warehouse.execute("SELECT count(*) FROM sync.\"state__hook_test\" WHERE __pk = 'p000003'").fetchone()[
            0
        ]
        == 0
    )


def test_webhook_created_flag_survives_a_lost_answer(warehouse, webhook: WebhookStandin, hook_sync) -> None:
    make_audience(warehouse, 3)
    webhook.inject(Fault.drop_after())  # creation applied, answer lost; the retry must still say "created"
    run_sync(warehouse, hook_sync())
    flags = warehouse.execute('SELECT DISTINCT __created_by_sync FROM sync."state__hook_test"').fetchall()
    assert flags == [(True,)]
    warehouse.execute("DELETE FROM audience_test")
    run_sync(warehouse, hook_sync())
    assert webhook.records == {}


def test_webhook_rejections_and_add_remove(warehouse, webhook: WebhookStandin, hook_sync) -> None:
    make_audience(warehouse, 10)
    webhook.refuse_keys["p000002"] = "unknown customer"
    result = run_sync(warehouse, hook_sync(mode="add_remove"))
    assert result.rejected == 1 and "p000002" not in webhook.records
    webhook.refuse_keys.clear()
    assert run_sync(warehouse, hook_sync(mode="add_remove")).sent_rows == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_export_writes_changes_only(warehouse, tmp_path: Path, fmt: str) -> None:
    make_audience(warehouse, 6)
    cfg = sync_from(
        base_sync(
            "file_test",
            {"type": "file_export", "directory": str(tmp_path), "format": fmt},
            {"email": {"column": "email", "transform": "meta_email_sha256"}, "name": "display_name"},
        )
    )
    first = run_sync(warehouse, cfg)
    assert first.output_file and Path(first.output_file).exists()
    rows = duckdb.sql(
        f"SELECT _sen_op, person_id, email FROM '{first.output_file}' ORDER BY person_id"
    ).fetchall()
    assert len(rows) == 6 and rows[0] == ("add", "p000000", hashlib.sha256(b"user.0@example.com").hexdigest())
    assert run_sync(warehouse, cfg).output_file is None  # no change, no file
    warehouse.execute("DELETE FROM audience_test WHERE person_id = 'p000001'")
    warehouse.execute("UPDATE audience_test SET display_name = 'VIP' WHERE person_id = 'p000002'")
    third = run_sync(warehouse, cfg)
    ops = duckdb.sql(f"SELECT _sen_op, person_id FROM '{third.output_file}' ORDER BY person_id").fetchall()
    assert ops == [("remove", "p000001"), ("change", "p000002")]
    assert not list(tmp_path.rglob(".*.tmp"))  # written under a temp name, then renamed
