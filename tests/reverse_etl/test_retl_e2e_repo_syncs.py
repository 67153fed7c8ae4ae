"""The repository's sync YAMLs against the audiences the real pipeline builds (committed sample)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from reverse_etl.config import load_syncs
from reverse_etl.engine import run_sync
from reverse_etl.testing.standins import FcmStandin, MetaStandin, ZaloStandin

pytestmark = pytest.mark.e2e
REPO_SYNCS = Path(__file__).resolve().parents[2] / "reverse_etl" / "syncs"


@pytest.fixture
def warehouse_copy(built_warehouse: Path, tmp_path: Path) -> Path:
    """A private copy: syncs write sync.* tables, the shared session warehouse stays untouched."""
    copy = tmp_path / "sen.duckdb"
    shutil.copyfile(built_warehouse, copy)
    return copy


def test_every_repository_sync_plans_against_the_built_audiences(warehouse_copy: Path) -> None:
    with duckdb.connect(str(warehouse_copy)) as conn:
        for sync in load_syncs(REPO_SYNCS):
            result = run_sync(conn, sync, dry_run=True)
            source = conn.execute(f"SELECT count(*) FROM audiences.{sync.model}").fetchone()[0]
            assert result.status == "success", sync.name
            assert result.added + result.rejected >= source > 0 or source == 0, sync.name


def test_meta_push_and_zalo_syncs_deliver_the_built_audiences(
    warehouse_copy: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    syncs = {s.name: s for s in load_syncs(REPO_SYNCS)}
    with duckdb.connect(str(warehouse_copy), read_only=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT template_id FROM audiences.audience_cart_abandoners_zalo"
        ).fetchall()
    templates = {t for (t,) in rows}
    with (
        MetaStandin(token="t-meta-e2e", audience_ids={"23851234567890789"}) as meta,
        FcmStandin(token="t-fcm-e2e", project_id="sen-retail-app") as fcm,
        ZaloStandin(token="t-zalo-e2e", template_ids=templates) as zalo,
        duckdb.connect(str(warehouse_copy)) as conn,
    ):
        monkeypatch.setenv("META_ACCESS_TOKEN", "t-meta-e2e")
        monkeypatch.setenv("META_GRAPH_BASE_URL", meta.base_url)
        monkeypatch.setenv("FCM_ACCESS_TOKEN", "t-fcm-e2e")
        monkeypatch.setenv("FCM_BASE_URL", fcm.base_url)
        monkeypatch.setenv("ZALO_OA_ACCESS_TOKEN", "t-zalo-e2e")
        monkeypatch.setenv("ZALO_BASE_URL", zalo.base_url)
        suppression = run_sync(conn, syncs["meta_recent_buyers_suppression"])
        audience = conn.execute(
            "SELECT count(*) FROM audiences.audience_recent_buyers_suppression_meta"
        ).fetchone()[0]
        assert audience > 0 and suppression.sent_rows + suppression.rejected == audience
        emails = conn.execute(
            "SELECT count(DISTINCT lower(trim(email))) FROM audiences.audience_recent_buyers_suppression_meta "
            "WHERE email IS NOT NULL AND person_id NOT IN (SELECT primary_key FROM sync.sync_rejections)"
        ).fetchone()[0]
        assert len(meta.members("EMAIL", "23851234567890789")) == emails
        assert run_sync(conn, syncs["meta_recent_buyers_suppression"]).sent_rows == 0
        push = run_sync(conn, syncs["fcm_cart_abandoners"])
        audience = conn.execute("SELECT count(*) FROM audiences.audience_cart_abandoners_push").fetchone()[0]
        assert push.sent_rows + push.rejected == audience
        assert sum(fcm.per_token().values()) == push.sent_rows
        ledger = conn.execute(
            "SELECT count(*) FROM sync.contact_ledger WHERE campaign = 'cart_abandoners' AND channel = 'push'"
        ).fetchone()[0]
        assert ledger == push.sent_rows
        zns = run_sync(conn, syncs["zalo_cart_abandoners"])
        zalo_rows = conn.execute("SELECT count(*) FROM audiences.audience_cart_abandoners_zalo").fetchone()[0]
        assert zns.sent_rows + zns.rejected == zalo_rows and len(zalo.messages) == zns.sent_rows
        assert all(m["phone"].startswith("84") and m["template_data"] for m in zalo.messages)
