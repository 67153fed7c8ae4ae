"""A process killed mid-sync (SIGKILL) and rerun ends correct; secrets never leak anywhere."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from retl_helpers import META_MAPPING, SECRETS, base_sync, make_audience, sync_from

from reverse_etl.engine import run_sync
from reverse_etl.errors import SyncRunError
from reverse_etl.secrets import Secret, redact
from reverse_etl.testing.server import Fault
from reverse_etl.testing.standins import FcmStandin, MetaStandin, WebhookStandin

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from reverse_etl.config import parse_sync
from reverse_etl.engine import run_sync
run_sync(sys.argv[1], parse_sync(json.loads(open(sys.argv[2]).read()), source="child"))
"""


def run_child_until_killed(db: Path, sync: dict, standin, kill_after: int, tmp_path: Path) -> int:
    """Run the sync in a subprocess; the stand-in SIGKILLs it right after processing request `kill_after`
    (before answering): the worst moment, the destination applied what the client never saw."""
    spec = tmp_path / "sync.json"
    spec.write_text(json.dumps(sync))
    holder: dict[str, int] = {}

    def kill(_request) -> None:
        while "pid" not in holder:
            time.sleep(0.01)
        os.kill(holder["pid"], signal.SIGKILL)
        time.sleep(0.2)

    standin.inject(Fault.hook(lambda r: None, count=kill_after - 1), Fault.hook(kill))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(spec)], cwd=REPO)
    holder["pid"] = proc.pid
    return proc.wait(timeout=120)


@pytest.mark.parametrize("lanes", [1, 4])
def test_meta_sync_killed_mid_run_then_rerun(tmp_path: Path, meta: MetaStandin, lanes: int) -> None:
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as conn:
        make_audience(conn, 300)
    data = base_sync(
        "meta_crash",
        {
            "type": "meta_custom_audiences",
            "audience_id": "6100000000001",
            "token_env": "META_TOKEN",
            "base_url": meta.base_url,
            "batch_size": 50,
            "max_in_flight": lanes,
        },
        META_MAPPING,
    )
    assert run_child_until_killed(db, data, meta, kill_after=3, tmp_path=tmp_path) == -signal.SIGKILL
    with duckdb.connect(str(db)) as conn:
        committed = conn.execute('SELECT count(*) FROM sync."state__meta_crash"').fetchone()[0]
        # the batch Meta applied when the process died was never acknowledged, so it cannot be in state;
        # batches before it may or may not have been committed yet (sending runs ahead of commits)
        assert committed % 50 == 0 and len(meta.members("EMAIL")) >= committed + 50
        result = run_sync(conn, sync_from(data))
        assert result.sent_rows == 300 - committed
        expected = {
            hashlib.sha256(e.lower().encode()).hexdigest()
            for (e,) in conn.execute("SELECT email FROM audience_test").fetchall()
        }
        assert meta.members("EMAIL") == expected
        statuses = [
            r[0] for r in conn.execute("SELECT status FROM sync.sync_runs ORDER BY started_at").fetchall()
        ]
        assert statuses == ["interrupted", "success"]


def test_push_sync_killed_mid_run_never_sends_twice(tmp_path: Path, fcm: FcmStandin) -> None:
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as conn:
        make_audience(conn, 12)
    data = base_sync(
        "fcm_crash",
        {
            "type": "fcm",
            "project_id": "sen-app",
            "token_env": "FCM_TOKEN",
            "base_url": fcm.base_url,
            "batch_size": 1,
            "body_template": "Hi",
        },
        {"token": "push_token"},
        mode="insert",
        campaign="crash_test",
    )
    assert run_child_until_killed(db, data, fcm, kill_after=5, tmp_path=tmp_path) == -signal.SIGKILL
    assert sum(fcm.per_token().values()) == 5
    with duckdb.connect(str(db)) as conn:
        result = run_sync(conn, sync_from(data))
        assert result.sent_rows == 7
        assert fcm.per_token() == {f"tok-{i}": 1 for i in range(12)}  # nobody got two pushes
        deliveries = dict(
            conn.execute("SELECT delivery, count(*) FROM sync.contact_ledger GROUP BY 1").fetchall()
        )
        assert deliveries == {
            "acknowledged": 11,
            "unconfirmed": 1,
        }  # the in-flight one still counts as contact
        assert run_sync(conn, sync_from(data)).requests == 0


def test_secrets_never_appear_in_tables_logs_errors_or_reprs(
    warehouse, meta: MetaStandin, webhook: WebhookStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    make_audience(warehouse, 10)
    meta_cfg = sync_from(
        base_sync(
            "meta_secret",
            {
                "type": "meta_custom_audiences",
                "audience_id": "6100000000001",
                "token_env": "META_TOKEN",
                "base_url": meta.base_url,
            },
            META_MAPPING,
        )
    )
    token = SECRETS["META_TOKEN"]
    # a destination that echoes the token back in its errors (it happens)
    meta.inject(
        Fault.status_code(503, body={"error": {"code": 2, "message": f"retry later {token}"}}),
        Fault.status_code(400, body={"error": {"code": 190, "message": f"token {token} expired"}}),
    )
    with pytest.raises(SyncRunError) as err:
        run_sync(warehouse, meta_cfg)
    assert token not in str(err.value) and "***" in str(err.value)
    hook_secret = SECRETS["HOOK_SECRET"]
    webhook.refuse_keys["p000001"] = f"bad signature for {hook_secret}"
    hook_cfg = sync_from(
        base_sync(
            "hook_secret",
            {"type": "webhook", "base_url": webhook.base_url, "path": "/hook", "secret_env": "HOOK_SECRET"},
            {"email": "email"},
        )
    )
    run_sync(warehouse, hook_cfg)

    texts = []
    for (table,) in warehouse.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sync'"
    ).fetchall():
        texts.extend(str(row) for row in warehouse.execute(f'SELECT * FROM sync."{table}"').fetchall())
    texts.extend(r.getMessage() for r in caplog.records)
    texts.append(caplog.text)
    texts.extend([repr(meta_cfg), meta_cfg.model_dump_json(), repr(Secret(token, "META_TOKEN"))])
    blob = "\n".join(texts)
    assert "bad signature for ***" in blob and "expired" in blob  # the messages are there, masked
    for value in SECRETS.values():
        assert value not in blob
    assert redact(f"x{token}y") == "x***y"
